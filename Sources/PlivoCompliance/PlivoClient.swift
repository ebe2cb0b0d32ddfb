import CurlHTTP
import Foundation

/// A typed async client for Plivo's Regulatory Compliance API.
///
/// ```swift
/// let client = PlivoClient(configuration: .init(authId: "MA…", authToken: token), transport: CurlTransport())
/// for try await application in client.applications.all(filter: .init(status: .submitted)) { … }
/// ```
///
/// Every call throws ``PlivoError``. The client is safe to share; its only state is a cache of
/// decoded applications from status-filtered lists (see ``Applications/list(filter:limit:offset:)``).
public struct PlivoClient: Sendable {
    /// Connection settings.
    public struct Configuration: Sendable {
        /// The account id, `MA…` or `SA…`.
        public var authId: String
        /// The auth token. Never logged or put in errors.
        public var authToken: String
        /// Scheme, host and optional port; default `https://api.plivo.com`.
        public var baseURL: String
        /// Per-request total timeout; `nil` uses the transport's.
        public var timeout: Duration?

        /// Creates a configuration.
        public init(
            authId: String,
            authToken: String,
            baseURL: String = "https://api.plivo.com",
            timeout: Duration? = nil
        ) {
            self.authId = authId
            self.authToken = authToken
            self.baseURL = baseURL
            self.timeout = timeout
        }
    }

    /// The largest page Plivo serves for compliance lists.
    public static let maxPageSize = 20
    /// The account, token and endpoint.
    public let configuration: Configuration
    let transport: any HTTPTransport
    /// Application list pages by status: the ones a watcher asks for again and again.
    let statusListDecoder = RepeatDecoder<ComplianceApplication>()

    /// Creates a client over any transport.
    public init(configuration: Configuration, transport: any HTTPTransport) {
        self.configuration = configuration
        self.transport = transport
    }

    /// `/ComplianceApplication/`.
    public var applications: Applications { Applications(client: self) }
    /// `/EndUser/`.
    public var endUsers: EndUsers { EndUsers(client: self) }
    /// `/ComplianceDocument/`.
    public var documents: Documents { Documents(client: self) }
    /// `/ComplianceDocumentType/`.
    public var documentTypes: DocumentTypes { DocumentTypes(client: self) }
    /// `/ComplianceRequirement/`.
    public var requirements: Requirements { Requirements(client: self) }

    // MARK: Plumbing shared by the resources

    /// What a path segment may hold unescaped; built once, not per request.
    static let pathSegmentAllowed = CharacterSet.urlPathAllowed.subtracting(CharacterSet(charactersIn: "/"))

    /// The account-scoped path for resource segments, always with a trailing slash.
    func path(_ segments: [String]) -> String {
        let encoded = ([configuration.authId] + segments).map {
            $0.addingPercentEncoding(withAllowedCharacters: Self.pathSegmentAllowed) ?? $0
        }
        return "/v1/Account/" + encoded.joined(separator: "/") + "/"
    }

    /// Sends a request and returns the raw 2xx response; non-2xx becomes ``PlivoError``.
    func send(
        _ method: HTTPMethod,
        _ segments: [String],
        query: [(String, String?)] = [],
        body: HTTPRequest.Body = .none
    ) async throws(PlivoError) -> HTTPResponse {
        let path = path(segments)
        let label = "\(method.rawValue) \(path)"
        var components = URLComponents()
        let items = query.compactMap { name, value in
            value.flatMap { $0.isEmpty ? nil : URLQueryItem(name: name, value: $0) }
        }
        components.queryItems = items.isEmpty ? nil : items
        let base =
            configuration.baseURL.hasSuffix("/") ? String(configuration.baseURL.dropLast()) : configuration.baseURL
        let url =
            base + path
            + (components.percentEncodedQuery.map { "?" + $0.replacingOccurrences(of: "+", with: "%2B") } ?? "")
        let request = HTTPRequest(
            method: method,
            url: url,
            headers: [("Accept", "application/json"), ("User-Agent", complianceWatchUserAgent)],
            body: body,
            credentials: BasicCredentials(username: configuration.authId, password: configuration.authToken),
            timeout: configuration.timeout
        )
        let response: HTTPResponse
        do {
            response = try await transport.send(request)
        } catch let error as HTTPTransportError {
            throw PlivoError(kind: .transport, message: error.description, request: label, transportError: error)
        } catch is CancellationError {
            throw PlivoError.cancelled(request: label)
        } catch {
            throw PlivoError(kind: .transport, message: String(describing: error), request: label)
        }
        guard response.isSuccess else { throw PlivoError.from(response: response, request: label) }
        return response
    }

    /// Sends and decodes a JSON body (with `decoder`, when given).
    func decode<T: Decodable>(
        _ type: T.Type,
        _ method: HTTPMethod,
        _ segments: [String],
        query: [(String, String?)] = [],
        body: HTTPRequest.Body = .none,
        decoder: ((Data) throws -> T)? = nil
    ) async throws(PlivoError) -> T {
        let response = try await send(method, segments, query: query, body: body)
        do {
            return try decoder?(response.body) ?? JSONDecoder().decode(T.self, from: response.body)
        } catch {
            let snippet = String(decoding: response.body.prefix(120), as: UTF8.self)
            throw PlivoError(
                kind: .malformedResponse,
                status: response.status,
                message: "\(Self.describe(error)); body starts: \(snippet)",
                request: "\(method.rawValue) \(path(segments))"
            )
        }
    }

    /// JSON-encodes a request body.
    static func json(_ object: [String: JSONValue]) -> HTTPRequest.Body {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let data = (try? encoder.encode(object)) ?? Data("{}".utf8)
        return .data(data, contentType: "application/json")
    }

    /// Checks paging arguments before anything is sent.
    static func checkPaging(limit: Int, offset: Int) throws(PlivoError) {
        guard (1...maxPageSize).contains(limit) else {
            throw PlivoError(
                kind: .invalidArgument,
                message: "limit must be between 1 and \(maxPageSize), got \(limit)"
            )
        }
        guard offset >= 0 else {
            throw PlivoError(kind: .invalidArgument, message: "offset must not be negative, got \(offset)")
        }
    }

    private static func describe(_ error: any Error) -> String {
        guard let error = error as? DecodingError else { return String(describing: error) }
        switch error {
        case .keyNotFound(let key, let context):
            return "missing key '\(key.stringValue)' at \(path(context))"
        case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context):
            return "\(context.debugDescription) at \(path(context))"
        @unknown default:
            return String(describing: error)
        }
    }

    private static func path(_ context: DecodingError.Context) -> String {
        let keys = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }
        return keys.isEmpty ? "top level" : keys.joined(separator: ".")
    }
}

extension [String: JSONValue] {
    /// Drops `nil` values so optional fields are simply absent.
    static func compact(_ pairs: [String: JSONValue?]) -> Self {
        pairs.compactMapValues { $0 }
    }
}

extension PlivoClient.Configuration: CustomStringConvertible, CustomDebugStringConvertible {
    /// Never shows the token, however the value ends up printed.
    public var description: String {
        "PlivoClient.Configuration(authId: \(authId), authToken: <redacted>, baseURL: \(baseURL))"
    }
    public var debugDescription: String { description }
}

extension PlivoClient: CustomStringConvertible, CustomDebugStringConvertible {
    public var description: String { "PlivoClient(\(configuration))" }
    public var debugDescription: String { description }
}
