import PlivoCompliance

/// Where the poller reads applications from: Plivo's API through ``PlivoClient`` in the
/// daemon, or any double a test supplies (WatchTesting's `ScriptedApplicationSource`).
///
/// Both calls throw ``PlivoError``, whose ``PlivoError/isNotFound`` and
/// ``PlivoError/isRetryable`` the poller decides on; a double must use them the same way.
public protocol ApplicationSource: Sendable {
    /// The account the applications belong to (Plivo's auth id).
    var account: String { get }

    /// One page of applications matching `filter`, newest first.
    func listApplications(
        filter: PlivoClient.ApplicationFilter,
        limit: Int,
        offset: Int
    ) async throws(PlivoError) -> Page<ComplianceApplication>

    /// One application; Plivo's own 404 throws with ``PlivoError/isNotFound``.
    func application(_ id: String) async throws(PlivoError) -> ComplianceApplication
}

extension PlivoClient: ApplicationSource {
    /// The auth id.
    public var account: String { configuration.authId }

    /// `GET /ComplianceApplication/` for one page.
    public func listApplications(
        filter: PlivoClient.ApplicationFilter,
        limit: Int,
        offset: Int
    ) async throws(PlivoError) -> Page<ComplianceApplication> {
        try await applications.list(filter: filter, limit: limit, offset: offset)
    }

    /// `GET /ComplianceApplication/{id}/`.
    public func application(_ id: String) async throws(PlivoError) -> ComplianceApplication {
        try await applications.get(id)
    }
}
