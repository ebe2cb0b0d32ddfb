import Foundation

/// Sends one HTTP request and returns the response.
///
/// The contract every implementation keeps:
/// - A response with any status, 2xx or not, is returned, never thrown. Mapping statuses to
///   errors is the caller's job.
/// - Transport failures (DNS, connect, TLS, timeout, a body over the cap) throw.
/// - Cancelling the calling task aborts the transfer and throws `CancellationError`.
/// - Implementations are safe to call concurrently.
public protocol HTTPTransport: Sendable {
    /// Performs `request` and returns the complete response.
    /// - Throws: ``HTTPTransportError``, or `CancellationError` when the task is cancelled.
    func send(_ request: HTTPRequest) async throws -> HTTPResponse
}

/// HTTP methods the project uses.
public enum HTTPMethod: String, Sendable, Hashable {
    case get = "GET"
    case post = "POST"
    case put = "PUT"
    case patch = "PATCH"
    case delete = "DELETE"
}

/// A user name and password for HTTP Basic authentication.
///
/// `description` never shows the password, so the value is safe to log by accident.
public struct BasicCredentials: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible {
    /// The user name (Plivo: the auth id).
    public var username: String
    /// The password (Plivo: the auth token). Never printed.
    public var password: String

    /// Creates credentials.
    public init(username: String, password: String) {
        self.username = username
        self.password = password
    }

    public var description: String { "BasicCredentials(username: \(username), password: <redacted>)" }
    public var debugDescription: String { description }
}

/// One part of a `multipart/form-data` body.
public struct MultipartPart: Sendable, Hashable {
    /// The form field name.
    public var name: String
    /// The part's bytes.
    public var data: Data
    /// Set for file parts; makes the part an upload.
    public var filename: String?
    /// The part's `Content-Type`; curl picks one from the file name when `nil`.
    public var contentType: String?

    /// A plain text field.
    public static func field(_ name: String, _ value: String) -> MultipartPart {
        MultipartPart(name: name, data: Data(value.utf8), filename: nil, contentType: nil)
    }

    /// A file upload.
    public static func file(_ name: String, filename: String, data: Data, contentType: String? = nil) -> MultipartPart {
        MultipartPart(name: name, data: data, filename: filename, contentType: contentType)
    }

    /// Creates a part.
    public init(name: String, data: Data, filename: String?, contentType: String?) {
        self.name = name
        self.data = data
        self.filename = filename
        self.contentType = contentType
    }
}

/// An HTTP request: plain values, no live resources.
public struct HTTPRequest: Sendable {
    /// A request body.
    public enum Body: Sendable {
        /// No body.
        case none
        /// Raw bytes with their content type, e.g. JSON.
        case data(Data, contentType: String)
        /// `multipart/form-data`, built with curl_mime.
        case multipart([MultipartPart])
    }

    /// The method.
    public var method: HTTPMethod
    /// The absolute URL (`http` or `https`).
    public var url: String
    /// Extra request headers, in order.
    public var headers: [(name: String, value: String)]
    /// The body.
    public var body: Body
    /// Basic-auth credentials, sent by curl; never put in `url`.
    public var credentials: BasicCredentials?
    /// Overrides the transport's total timeout for this request.
    public var timeout: Duration?
    /// Overrides the transport's connect timeout for this request.
    public var connectTimeout: Duration?
    /// Overrides the transport's cap on the response body for this request.
    public var maxResponseBytes: Int?

    /// Creates a request.
    public init(
        method: HTTPMethod = .get,
        url: String,
        headers: [(name: String, value: String)] = [],
        body: Body = .none,
        credentials: BasicCredentials? = nil,
        timeout: Duration? = nil,
        connectTimeout: Duration? = nil,
        maxResponseBytes: Int? = nil
    ) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.credentials = credentials
        self.timeout = timeout
        self.connectTimeout = connectTimeout
        self.maxResponseBytes = maxResponseBytes
    }
}

/// Response headers with case-insensitive lookup; order and repeats are kept.
public struct HTTPHeaders: Sendable, Sequence {
    private var fields: [(name: String, value: String)]

    /// Creates headers from name/value pairs.
    public init(_ fields: [(name: String, value: String)] = []) {
        self.fields = fields
    }

    /// The first value for `name`, compared case-insensitively.
    public subscript(_ name: String) -> String? {
        fields.first { $0.name.caseInsensitiveCompare(name) == .orderedSame }?.value
    }

    /// Appends a field.
    public mutating func append(name: String, value: String) {
        fields.append((name, value))
    }

    public func makeIterator() -> IndexingIterator<[(name: String, value: String)]> {
        fields.makeIterator()
    }
}

/// A complete HTTP response.
public struct HTTPResponse: Sendable {
    /// The status code, e.g. 200.
    public var status: Int
    /// The response headers of the final response.
    public var headers: HTTPHeaders
    /// The body, at most the transport's cap.
    public var body: Data

    /// Creates a response.
    public init(status: Int, headers: HTTPHeaders = HTTPHeaders(), body: Data = Data()) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// True for 200…299.
    public var isSuccess: Bool { (200..<300).contains(status) }

    /// The `Retry-After` header as a duration, through ``RetryAfter/parse(_:now:)``: `nil` when
    /// absent or invalid, at most one hour.
    public func retryAfter(now: Date = Date()) -> Duration? {
        headers["Retry-After"].flatMap { RetryAfter.parse($0, now: now) }
    }
}
