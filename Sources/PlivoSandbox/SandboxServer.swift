import FlyingFox
import FlyingSocks
import Foundation
import Synchronization

/// A local simulator of Plivo's Compliance API on loopback.
///
/// It serves every endpoint of the Regulatory Compliance API under `/v1/Account/{auth_id}/`,
/// checks HTTP Basic auth, enforces the account rate limit, reviews submitted applications, and
/// injects faults on request. Control endpoints live under `/_sandbox/`.
///
/// ```swift
/// let sandbox = try await SandboxServer.start(.init(authId: "MA…", authToken: "secret"))
/// defer { sandbox.stop() }
/// print(sandbox.baseURL)  // http://127.0.0.1:PORT
/// ```
public final class SandboxServer: Sendable {
    /// Settings for a sandbox.
    public struct Configuration: Sendable {
        /// The address to listen on (loopback by default).
        public var host: String
        /// 0 picks a free port.
        public var port: UInt16
        /// The account the sandbox serves.
        public var authId: String
        /// Its auth token, checked with Basic auth.
        public var authToken: String
        /// More accounts the sandbox serves, auth id → token (a reseller's several main accounts).
        public var otherAccounts: [String: String]
        /// Requests allowed per account in `rateWindow`; 0 disables the limit.
        public var rateLimit: Int
        /// The window `rateLimit` counts requests in.
        public var rateWindow: Duration
        /// Submitted applications are reviewed this long after submission; `nil` waits for a command.
        public var reviewAfter: Duration?
        /// Share of reviews that accept (the rest reject with a reason).
        public var acceptRatio: Double
        /// Faults active from the start.
        public var faults: Faults

        /// Creates a configuration with Plivo's defaults: 300 requests per 5 s, no reviewer, no faults.
        public init(
            host: String = "127.0.0.1",
            port: UInt16 = 0,
            authId: String,
            authToken: String,
            rateLimit: Int = 300,
            rateWindow: Duration = .seconds(5),
            reviewAfter: Duration? = nil,
            acceptRatio: Double = 0.8,
            faults: Faults = Faults(),
            otherAccounts: [String: String] = [:]
        ) {
            self.otherAccounts = otherAccounts
            self.host = host
            self.port = port
            self.authId = authId
            self.authToken = authToken
            self.rateLimit = rateLimit
            self.rateWindow = rateWindow
            self.reviewAfter = reviewAfter
            self.acceptRatio = acceptRatio
            self.faults = faults
        }
    }

    struct Counters: Sendable {
        var requests: [String: Int] = [:]
        var rateLimited = 0
        var faults = Faults()
        var limiter: RateLimiter
    }

    /// How it was started.
    public let configuration: Configuration
    let store: SandboxStore
    let counters: Mutex<Counters>
    let connections = ConnectionCounter()
    private let server: HTTPServer
    private let runner = Mutex<Task<Void, any Error>?>(nil)

    /// Creates a sandbox; call ``run()`` or use ``start(_:)``.
    public init(_ configuration: Configuration) throws {
        self.configuration = configuration
        store = SandboxStore(
            accounts: [configuration.authId] + configuration.otherAccounts.keys.sorted(),
            reviewer: .init(reviewAfter: configuration.reviewAfter, acceptRatio: configuration.acceptRatio)
        )
        counters = Mutex(
            Counters(
                faults: configuration.faults,
                limiter: RateLimiter(limit: configuration.rateLimit, window: configuration.rateWindow)
            )
        )
        let address = try sockaddr_in.inet(ip4: configuration.host, port: configuration.port)
        let handler = RootHandler()
        server = HTTPServer(
            config: .init(
                address: address,
                timeout: 120,
                pool: NoDelayPool(inner: HTTPServer.defaultPool()),
                logger: connections
            ),
            handler: handler
        )
        handler.sandbox.withLock { $0 = WeakSandbox(value: self) }
    }

    /// Serves until the task is cancelled.
    public func run() async throws {
        try await server.run()
    }

    /// Starts a sandbox in the background and waits until it listens (tests, benchmarks).
    public static func start(_ configuration: Configuration) async throws -> SandboxServer {
        let sandbox = try SandboxServer(configuration)
        let task = Task { try await sandbox.run() }
        sandbox.runner.withLock { $0 = task }
        try await sandbox.server.waitUntilListening(timeout: 10)
        return sandbox
    }

    /// Stops a sandbox started with ``start(_:)``.
    public func stop() {
        runner.withLock { $0?.cancel() }
    }

    /// The port it listens on, once listening.
    public var port: UInt16 {
        get async {
            if case .ip4(_, let port)? = await server.listeningAddress { return port }
            return 0
        }
    }

    /// `http://host:port`, once listening.
    public var baseURL: String {
        get async { "http://\(configuration.host):\(await port)" }
    }

    /// Waits until the server accepts connections.
    public func waitUntilListening() async throws {
        try await server.waitUntilListening(timeout: 10)
    }

    /// Replaces the active faults.
    public func setFaults(_ faults: Faults) {
        counters.withLock { $0.faults = faults }
    }

    // MARK: Request handling

    func handle(_ request: FlyingFox.HTTPRequest) async -> FlyingFox.HTTPResponse {
        let body = (try? await request.bodyData) ?? Data()
        let path = request.path
        if path.hasPrefix("/_sandbox/") || path == "/_sandbox" {
            return encode(await control(request, path: path, body: body))
        }
        await store.runDueReviews()

        let faults = counters.withLock { $0.faults }
        if faults.latencyMs > 0 { try? await Task.sleep(for: .milliseconds(faults.latencyMs)) }

        guard let route = Route(path: path) else { return encode(.error(404, "not found")) }
        if let reply = authenticate(request, account: route.account) { return encode(reply) }
        let key = "\(request.method.rawValue) \(route.statsKey)"
        let admitted = counters.withLock { counters -> Bool in
            counters.requests[key, default: 0] += 1
            guard counters.limiter.admit(route.account) else {
                counters.rateLimited += 1
                return false
            }
            return true
        }
        guard admitted else { return encode(.error(429, "Too many requests")) }

        if chance(faults.dropRate) { return Self.dropConnection() }
        if chance(faults.rate429) {
            counters.withLock { $0.rateLimited += 1 }
            var reply = Reply.error(429, "Too many requests")
            if let value = faults.retryAfter { reply.headers.append(("Retry-After", value)) }
            return encode(reply)
        }
        if chance(faults.rate500) { return encode(.error(500, "Internal server error")) }
        // Only where a 404 means something: a GET of one object.
        if request.method.rawValue == "GET", route.id != nil, chance(faults.html404Rate) {
            return FlyingFox.HTTPResponse(
                statusCode: .notFound,
                headers: [.contentType: "text/html", HTTPHeader("Server"): "nginx"],
                body: Data(Faults.html404.utf8)
            )
        }

        var reply = await api(route, method: request.method.rawValue, request: request, body: body)
        if request.method.rawValue == "GET", route.resource == "ComplianceApplication", route.action == nil {
            reply = await garble(reply, faults: faults, list: route.id == nil)
        }
        if reply.status < 300, reply.body != nil {
            if chance(faults.malformedRate) {
                return FlyingFox.HTTPResponse(
                    statusCode: .ok,
                    headers: [.contentType: "application/json"],
                    body: Data(#"{"api_id": "5d3a1c2e", "meta": {"limit": 20, "objects": [{"compliance_"#.utf8)
                )
            }
            if chance(faults.truncateRate) {
                let full = Data(reply.body!.serialized().utf8)
                return FlyingFox.HTTPResponse(
                    statusCode: .ok,
                    headers: [.contentType: "application/json"],
                    body: HTTPBodySequence(
                        from: TruncatedBody(bytes: Array(full.prefix(full.count / 2))),
                        count: full.count
                    )
                )
            }
        }
        return encode(reply)
    }

    private func chance(_ rate: Double) -> Bool { rate > 0 && Double.random(in: 0..<1) < rate }

    /// Applies the object-level faults to an application answer: hidden from a list page
    /// (drift), vanishing for a while, a field made null or removed.
    private func garble(_ reply: Reply, faults: Faults, list: Bool) async -> Reply {
        guard reply.status == 200, let body = reply.body,
            faults.nullFieldRate > 0 || faults.hideRate > 0 || faults.vanishRate > 0
        else { return reply }
        var result = reply
        if !list {
            if chance(faults.nullFieldRate) { result.body = Faults.damages.randomElement()!(body) }
            return result
        }
        guard case .array(let objects)? = body["objects"] else { return reply }
        var kept: [JSON] = []
        for object in objects {
            if chance(faults.vanishRate), let id = object["compliance_application_id"]?.text {
                await store.vanish(id: id, for: .milliseconds(Int64(faults.vanishForSeconds * 1000)))
            }
            if chance(faults.hideRate) { continue }
            kept.append(chance(faults.nullFieldRate) ? Faults.damages.randomElement()!(object) : object)
        }
        result.body = body.setting("objects", .array(kept))
        return result
    }

    /// 401 bodies as Plivo sends them: no `api_id`.
    private func authenticate(_ request: FlyingFox.HTTPRequest, account: String) -> Reply? {
        guard let header = request.headers[.authorization], header.lowercased().hasPrefix("basic "),
            let decoded = Data(base64Encoded: String(header.dropFirst(6)).trimmingCharacters(in: .whitespaces)),
            let text = String(data: decoded, encoding: .utf8), let colon = text.firstIndex(of: ":")
        else {
            return .json(401, .obj(("error", .string("authentication credentials were not provided"))))
        }
        let user = String(text[..<colon]), password = String(text[text.index(after: colon)...])
        let expected = user == configuration.authId ? configuration.authToken : configuration.otherAccounts[user]
        guard let expected, password == expected else {
            return .json(401, .obj(("error", .string("Incorrect authentication credentials."))))
        }
        guard account == user else {
            return .json(401, .obj(("error", .string("auth_id in the URL does not match the credentials"))))
        }
        return nil
    }

    private func api(_ route: Route, method: String, request: FlyingFox.HTTPRequest, body: Data) async -> Reply {
        let account = route.account
        let query = Self.formDecodedQuery(request.target.query(percentEncoded: true))
        let json = body.isEmpty ? JSON.object([]) : (JSON.parse(body) ?? .null)
        let isJSONBody = body.isEmpty || json != .null

        func form() -> [FormPart]? {
            guard let type = request.headers[.contentType], let boundary = Multipart.boundary(fromContentType: type)
            else { return nil }
            return Multipart.parse(body, boundary: boundary)
        }
        if method == "POST", route.resource != "ComplianceDocument", !isJSONBody {
            return .error(400, "invalid JSON body")
        }

        switch (method, route.resource, route.id, route.action) {
        case ("GET", "ComplianceApplication", nil, nil):
            return await store.listApplications(account: account, query: query)
        case ("POST", "ComplianceApplication", nil, nil):
            return await store.createApplication(account: account, body: json)
        case ("GET", "ComplianceApplication", let id?, nil): return await store.getApplication(account: account, id: id)
        case ("POST", "ComplianceApplication", let id?, nil):
            return await store.updateApplication(account: account, id: id, body: json)
        case ("DELETE", "ComplianceApplication", let id?, nil):
            return await store.deleteApplication(account: account, id: id)
        case ("POST", "ComplianceApplication", let id?, "Submit"):
            // Plivo refuses a bodiless POST that is not declared JSON; `{}`, `{"id": …}` or an empty JSON body are fine.
            let contentType = request.headers[.contentType]?.lowercased() ?? ""
            if body.isEmpty, !contentType.contains("application/json") {
                return .error(400, "use 'application/json' Content-Type and raw POST with json data")
            }
            return await store.submitApplication(account: account, id: id)
        case ("GET", "EndUser", nil, nil): return await store.listEndUsers(account: account, query: query)
        case ("POST", "EndUser", nil, nil): return await store.createEndUser(account: account, body: json)
        case ("GET", "EndUser", let id?, nil): return await store.getEndUser(account: account, id: id)
        case ("POST", "EndUser", let id?, nil): return await store.updateEndUser(account: account, id: id, body: json)
        case ("DELETE", "EndUser", let id?, nil): return await store.deleteEndUser(account: account, id: id)
        case ("GET", "ComplianceDocument", nil, nil): return await store.listDocuments(account: account, query: query)
        case ("POST", "ComplianceDocument", nil, nil):
            guard let parts = form() else { return .error(400, "multipart/form-data body required") }
            return await store.createDocument(account: account, parts: parts)
        case ("GET", "ComplianceDocument", let id?, nil): return await store.getDocument(account: account, id: id)
        case ("POST", "ComplianceDocument", let id?, nil):
            guard let parts = form() else { return .error(400, "multipart/form-data body required") }
            return await store.updateDocument(account: account, id: id, parts: parts)
        case ("DELETE", "ComplianceDocument", let id?, nil): return await store.deleteDocument(account: account, id: id)
        case ("GET", "ComplianceDocumentType", nil, nil):
            return await store.listDocumentTypes(account: account, query: query)
        case ("GET", "ComplianceDocumentType", let id?, nil): return await store.getDocumentType(id: id)
        case ("GET", "ComplianceRequirement", nil, nil): return await store.lookupRequirement(query: query)
        case ("GET", "ComplianceRequirement", let id?, nil): return await store.getRequirement(id: id)
        case (_, "ComplianceApplication", _, _), (_, "EndUser", _, _), (_, "ComplianceDocument", _, _),
            (_, "ComplianceDocumentType", _, _), (_, "ComplianceRequirement", _, _):
            return route.action == nil || route.action == "Submit" ? .error(405, "method not allowed") : .notFound()
        default:
            return .notFound()
        }
    }

    /// Query parameters as form encoding and every HTTP library read them: `+` is a space,
    /// `%2B` a plus. The last value of a repeated name wins.
    static func formDecodedQuery(_ raw: String) -> [String: String] {
        var query: [String: String] = [:]
        for pair in raw.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ text: Substring) -> String {
                let spaced = text.replacingOccurrences(of: "+", with: " ")
                return spaced.removingPercentEncoding ?? spaced
            }
            query[decode(parts[0])] = parts.count > 1 ? decode(parts[1]) : ""
        }
        return query
    }

    // MARK: Control endpoints

    private func control(_ request: FlyingFox.HTTPRequest, path: String, body: Data) async -> Reply {
        let segments = path.split(separator: "/").map(String.init)
        let json = body.isEmpty ? JSON.object([]) : JSON.parse(body)
        guard let json else { return .error(400, "body is not JSON") }
        switch (request.method.rawValue, Array(segments.dropFirst())) {
        case ("POST", ["reset"]):
            await store.reset()
            counters.withLock {
                $0.requests = [:]
                $0.rateLimited = 0
                $0.faults = Faults()
                $0.limiter = RateLimiter(limit: configuration.rateLimit, window: configuration.rateWindow)
            }
            connections.reset()
            return .json(200, .obj(("message", .string("reset"))))
        case ("POST", ["seed"]):
            let account = json["account"]?.text ?? configuration.authId
            guard await store.hasAccount(account) else { return .error(400, "unknown account \(account)") }
            let count = Int(json["count"]?.double ?? 0)
            guard count >= 0, count <= 1_000_000 else { return .error(400, "count must be 0…1000000") }
            var ratios: [(String, Double)] = [("draft", 0.1), ("submitted", 0.2), ("accepted", 0.6), ("rejected", 0.1)]
            if case .object(let pairs)? = json["statuses"] {
                ratios = pairs.compactMap { key, value in value.double.map { (key, $0) } }
                guard !ratios.isEmpty, ratios.allSatisfy({ $0.1 >= 0 }) else {
                    return .error(400, "statuses must map status names to non-negative ratios")
                }
            }
            return .json(201, await store.seed(account: account, count: count, ratios: ratios))
        case ("POST", let parts) where parts.count == 3 && parts[0] == "applications" && parts[2] == "review":
            guard let status = json["status"]?.text else { return .error(400, "status is required") }
            return await store.review(id: parts[1], status: status, reason: json["rejection_reason"]?.text)
        case ("POST", let parts) where parts.count == 3 && parts[0] == "applications" && parts[2] == "vanish":
            let seconds = json["for_s"]?.double ?? 3
            guard seconds >= 0, seconds <= 86_400 else { return .error(400, "for_s must be 0…86400") }
            guard await store.vanish(id: parts[1], for: .milliseconds(Int64(seconds * 1000))) else {
                return .notFound()
            }
            return .json(200, .obj(("message", .string("vanished")), ("for_s", .double(seconds))))
        case ("POST", ["faults"]):
            let faults = Faults(json: json)
            setFaults(faults)
            return .json(200, faults.json)
        case ("GET", ["faults"]):
            return .json(200, counters.withLock { $0.faults.json })
        case ("POST", ["reviewer"]):
            let current = await store.reviewer
            let reviewAfter =
                json["review_after_s"].map { $0.double.map { Duration.milliseconds(Int64($0 * 1000)) } }
                ?? current.reviewAfter
            await store.setReviewer(
                .init(reviewAfter: reviewAfter, acceptRatio: json["accept_ratio"]?.double ?? current.acceptRatio)
            )
            return .json(200, .obj(("message", .string("changed"))))
        case ("GET", ["stats"]):
            let snapshot = counters.withLock { $0 }
            let requests = snapshot.requests.sorted { $0.key < $1.key }.map { ($0.key, JSON.int($0.value)) }
            return .json(
                200,
                .obj(
                    ("requests", .object(requests)),
                    ("connections", .int(connections.opened)),
                    ("rate_limited", .int(snapshot.rateLimited))
                )
            )
        default:
            return .notFound()
        }
    }

    // MARK: Encoding

    private func encode(_ reply: Reply) -> FlyingFox.HTTPResponse {
        var headers: FlyingFox.HTTPHeaders = [:]
        for (name, value) in reply.headers { headers[FlyingFox.HTTPHeader(name)] = value }
        let status = HTTPStatusCode(reply.status, phrase: Self.phrase(reply.status))
        guard let body = reply.body else { return FlyingFox.HTTPResponse(statusCode: status, headers: headers) }
        headers[.contentType] = "application/json"
        return FlyingFox.HTTPResponse(statusCode: status, headers: headers, body: Data(body.serialized().utf8))
    }

    private static func phrase(_ status: Int) -> String {
        switch status {
        case 200: "OK"
        case 201: "Created"
        case 202: "Accepted"
        case 204: "No Content"
        case 400: "Bad Request"
        case 401: "Unauthorized"
        case 404: "Not Found"
        case 405: "Method Not Allowed"
        case 429: "Too Many Requests"
        default: "Internal Server Error"
        }
    }

    /// Closes the connection before a single byte of the answer is written. FlyingFox has no API
    /// for that, but it closes a connection whose WebSocket upgrade fails before writing.
    private static func dropConnection() -> FlyingFox.HTTPResponse {
        FlyingFox.HTTPResponse(webSocket: DroppingHandler())
    }
}

/// Parses `/v1/Account/{account}/{Resource}/[{id}/[{action}/]]`, with or without the final slash.
struct Route {
    var account: String
    var resource: String
    var id: String?
    var action: String?

    init?(path: String) {
        let parts = path.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        guard parts.count >= 4, parts.count <= 6, parts[0] == "v1", parts[1] == "Account" else { return nil }
        account = parts[2]
        resource = parts[3]
        id = parts.count > 4 ? parts[4] : nil
        action = parts.count > 5 ? parts[5] : nil
    }

    /// `/ComplianceApplication/{id}/Submit/`, the form `/_sandbox/stats` reports.
    var statsKey: String {
        "/" + ([resource] + (id == nil ? [] : ["{id}"]) + (action.map { [$0] } ?? [])).joined(separator: "/") + "/"
    }
}

private struct DroppingHandler: WSHandler {
    struct Dropped: Error {}
    func makeFrames(for client: AsyncThrowingStream<WSFrame, any Error>) async throws -> AsyncStream<WSFrame> {
        throw Dropped()
    }
}

/// Counts accepted connections through FlyingFox's logger, the only hook it offers for them.
final class ConnectionCounter: FlyingSocks.Logging, Sendable {
    private let count = Mutex(0)

    var opened: Int { count.withLock { $0 } }
    func reset() { count.withLock { $0 = 0 } }

    func logDebug(_ debug: @autoclosure () -> String) {}
    func logInfo(_ info: @autoclosure () -> String) {
        if info().hasSuffix(" open connection") { count.withLock { $0 += 1 } }
    }
    func logWarning(_ warning: @autoclosure () -> String) {}
    func logError(_ error: @autoclosure () -> String) {}
    func logCritical(_ critical: @autoclosure () -> String) {}
}

struct WeakSandbox: Sendable {
    weak var value: SandboxServer?
}

/// The server's single handler; it forwards to the sandbox, which it must not keep alive.
final class RootHandler: FlyingFox.HTTPHandler, Sendable {
    let sandbox = Mutex(WeakSandbox())

    func handleRequest(_ request: FlyingFox.HTTPRequest) async throws -> FlyingFox.HTTPResponse {
        guard let sandbox = sandbox.withLock({ $0.value }) else {
            return FlyingFox.HTTPResponse(statusCode: .serviceUnavailable)
        }
        return await sandbox.handle(request)
    }
}

extension SandboxServer {
    /// Seeds the configured account with the default status mix (10% draft, 20% submitted,
    /// 60% accepted, 10% rejected).
    public func seed(count: Int) async {
        _ = await store.seed(
            account: configuration.authId,
            count: count,
            ratios: [("draft", 0.1), ("submitted", 0.2), ("accepted", 0.6), ("rejected", 0.1)]
        )
    }

    /// Seeds every account alike (see ``seed(count:)``).
    public func seedEveryAccount(count: Int) async {
        for account in [configuration.authId] + configuration.otherAccounts.keys.sorted() {
            _ = await store.seed(
                account: account,
                count: count,
                ratios: [("draft", 0.1), ("submitted", 0.2), ("accepted", 0.6), ("rejected", 0.1)]
            )
        }
    }
}

/// Wraps FlyingFox's socket pool to turn Nagle's algorithm off on every socket it waits on.
///
/// FlyingFox writes the head and the body of a response in two writes; with Nagle on, the body
/// waits for the client's delayed ACK, adding ~40 ms to every keep-alive request.
struct NoDelayPool: AsyncSocketPool {
    let inner: any AsyncSocketPool

    func prepare() async throws { try await inner.prepare() }
    func run() async throws { try await inner.run() }

    func suspendSocket(_ socket: Socket, untilReadyFor events: Socket.Events) async throws {
        var one: Int32 = 1
        _ = setsockopt(socket.file.rawValue, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        try await inner.suspendSocket(socket, untilReadyFor: events)
    }
}

/// Yields the first half of a body, then fails, so FlyingFox closes the connection mid-body
/// after promising the full Content-Length.
struct TruncatedBody: AsyncBufferedSequence, AsyncBufferedIteratorProtocol {
    struct Cut: Error {}
    let bytes: [UInt8]
    var sent = false

    func makeAsyncIterator() -> TruncatedBody { self }

    mutating func next() async throws -> UInt8? {
        try await nextBuffer(suggested: 1)?.first
    }

    mutating func nextBuffer(suggested count: Int) async throws -> [UInt8]? {
        guard !sent else { throw Cut() }
        sent = true
        return bytes
    }
}
