import CurlHTTP
import Foundation
import PlivoCompliance
import Synchronization
import WatchCore

/// An ``HTTPTransport`` that answers from a script and records every request, for tests of a
/// client's requests and its handling of any answer, with no server.
public final class ScriptedTransport: HTTPTransport {
    /// Answers one request: a response, or a thrown transport error.
    public typealias Script = @Sendable (HTTPRequest) throws -> HTTPResponse

    private let script: Script
    private let recorded = Mutex<[HTTPRequest]>([])

    /// A transport that answers with `script`.
    public init(_ script: @escaping Script) {
        self.script = script
    }

    /// Every request sent, in order.
    public var requests: [HTTPRequest] { recorded.withLock { $0 } }

    /// Records `request` and answers it from the script.
    public func send(_ request: HTTPRequest) async throws -> HTTPResponse {
        try Task.checkCancellation()
        recorded.withLock { $0.append(request) }
        return try script(request)
    }

    /// A JSON response.
    public static func json(
        _ status: Int,
        _ body: String,
        headers: [(name: String, value: String)] = []
    ) -> HTTPResponse {
        HTTPResponse(
            status: status,
            headers: HTTPHeaders([("Content-Type", "application/json")] + headers),
            body: Data(body.utf8)
        )
    }
}

/// An ``ApplicationSource`` held in memory: what the lists show and what a GET answers can
/// differ, as they do on Plivo while data changes, and either can be told to fail.
public final class ScriptedApplicationSource: ApplicationSource {
    private struct State {
        var applications: [String: ComplianceApplication] = [:]
        var hiddenFromLists: Set<String> = []
        var failingGets: [String: PlivoError] = [:]
        var listFailure: PlivoError?
        var listFailureFromOffset = 0
        var requests: [String] = []
    }

    /// The account.
    public let account: String
    private let state = Mutex(State())

    /// An empty account.
    public init(account: String = "MASCRIPTED0000000000") {
        self.account = account
    }

    /// Adds or replaces an application, visible in lists and to GET.
    public func put(_ application: ComplianceApplication) {
        state.withLock {
            $0.applications[application.id] = application
            $0.hiddenFromLists.remove(application.id)
        }
    }

    /// Deletes an application: gone from lists, and GET answers Plivo's 404.
    public func delete(_ id: String) {
        state.withLock { _ = $0.applications.removeValue(forKey: id) }
    }

    /// Leaves an application out of lists while GET still finds it (offset paging shifted).
    public func hideFromLists(_ id: String) {
        state.withLock { _ = $0.hiddenFromLists.insert(id) }
    }

    /// Makes GET of `id` fail with `error` (`nil` to answer again).
    public func failGet(_ id: String, with error: PlivoError?) {
        state.withLock { $0.failingGets[id] = error }
    }

    /// Makes every list fail with `error` (`nil` to answer again); with `fromOffset`, only the
    /// pages from that offset on, as when a connection drops halfway through a long list.
    public func failLists(with error: PlivoError?, fromOffset: Int = 0) {
        state.withLock {
            $0.listFailure = error
            $0.listFailureFromOffset = fromOffset
        }
    }

    /// Requests made, as `list <status>` and `get <id>`.
    public var requests: [String] { state.withLock { $0.requests } }

    /// One page of the applications matching `filter`'s status, newest id first.
    public func listApplications(
        filter: PlivoClient.ApplicationFilter,
        limit: Int,
        offset: Int
    ) async throws(PlivoError) -> Page<ComplianceApplication> {
        let result = state.withLock { state -> Result<Page<ComplianceApplication>, PlivoError> in
            state.requests.append("list \(filter.status?.rawValue ?? "all")")
            if let failure = state.listFailure, offset >= state.listFailureFromOffset { return .failure(failure) }
            let matching = state.applications.values
                .filter {
                    !state.hiddenFromLists.contains($0.id) && (filter.status == nil || $0.status == filter.status)
                }
                .sorted { $0.id > $1.id }
            let page = Array(matching.dropFirst(offset).prefix(limit))
            let more = offset + page.count < matching.count
            return .success(
                Page(
                    meta: .init(limit: limit, offset: offset, totalCount: matching.count, next: more ? "next" : nil),
                    objects: page
                )
            )
        }
        return try result.get()
    }

    /// The application, or Plivo's 404 when it is deleted.
    public func application(_ id: String) async throws(PlivoError) -> ComplianceApplication {
        let result = state.withLock { state -> Result<ComplianceApplication, PlivoError> in
            state.requests.append("get \(id)")
            if let failure = state.failingGets[id] { return .failure(failure) }
            guard let application = state.applications[id] else {
                return .failure(PlivoError(kind: .api, status: 404, apiId: "scripted", message: "not found"))
            }
            return .success(application)
        }
        return try result.get()
    }
}
