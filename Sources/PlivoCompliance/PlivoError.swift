import CurlHTTP
import Foundation

/// A failed Compliance API call.
///
/// It carries what an operator needs to act: the HTTP status, Plivo's `api_id`, the message,
/// `Retry-After` when sent, and the request path. It never contains the auth token.
public struct PlivoError: Error, Sendable, CustomStringConvertible {
    /// Where the failure happened.
    public enum Kind: String, Sendable, Hashable {
        /// Plivo answered with a non-2xx status.
        case api
        /// The request never got a complete answer (network, timeout, body too large).
        case transport
        /// A 2xx answer whose body could not be decoded.
        case malformedResponse
        /// The call was refused before sending, e.g. `limit` outside 1…20.
        case invalidArgument
        /// The calling task was cancelled; nothing is known about the answer.
        case cancelled
    }

    /// Where the failure happened.
    public var kind: Kind
    /// The HTTP status for `.api` and `.malformedResponse`.
    public var status: Int?
    /// Plivo's request id, when the body had one (a 401 may not).
    public var apiId: String?
    /// Plivo's `error` text, the decoding problem, or the transport error.
    public var message: String
    /// The delay Plivo asked for with `Retry-After`.
    public var retryAfter: Duration?
    /// `METHOD /path/` of the request, without host or credentials.
    public var request: String
    /// The transport error, for `.transport`.
    public var transportError: HTTPTransportError?

    /// Creates an error.
    public init(
        kind: Kind,
        status: Int? = nil,
        apiId: String? = nil,
        message: String,
        retryAfter: Duration? = nil,
        request: String = "",
        transportError: HTTPTransportError? = nil
    ) {
        self.kind = kind
        self.status = status
        self.apiId = apiId
        self.message = message
        self.retryAfter = retryAfter
        self.request = request
        self.transportError = transportError
    }

    /// 404 from Plivo: the resource does not exist (any more). Only a 404 whose body is Plivo's
    /// (JSON, with `api_id` or `error`) counts; a proxy's HTML 404 arrives as `.transport`.
    public var isNotFound: Bool { kind == .api && status == 404 }

    /// Whether trying again later can succeed: network errors, timeouts, 408, 429, 5xx and
    /// malformed bodies (a truncated or garbled answer is usually transient).
    public var isRetryable: Bool {
        switch kind {
        case .transport: transportError?.isRetryable ?? true
        case .malformedResponse: true
        case .invalidArgument, .cancelled: false
        case .api: status.map { $0 == 408 || $0 == 429 || $0 >= 500 } ?? false
        }
    }

    public var description: String {
        var text = request.isEmpty ? "" : "\(request): "
        switch kind {
        case .api: text += "HTTP \(status ?? 0): \(message)"
        case .transport: text += message
        case .malformedResponse: text += "malformed response (HTTP \(status ?? 0)): \(message)"
        case .invalidArgument: text += "invalid argument: \(message)"
        case .cancelled: text += "cancelled"
        }
        if let apiId { text += " (api_id \(apiId))" }
        if let retryAfter { text += " (retry after \(retryAfter))" }
        return HTTPTransportError.bounded(text)
    }

    /// Builds the error for a non-2xx response, tolerating every body shape Plivo sends:
    /// `error` as a string or an object, no `api_id`, `{}`, or text that is not JSON.
    static func from(response: HTTPResponse, request: String) -> PlivoError {
        var apiId: String?
        var message: String?
        var isPlivos = false
        if let object = try? JSONDecoder().decode([String: JSONValue].self, from: response.body) {
            apiId = object["api_id"]?.stringValue
            message = extractMessage(object)
            isPlivos = object["api_id"] != nil || object["error"] != nil
        } else {
            let text = String(decoding: response.body.prefix(300), as: UTF8.self)
                .trimmingCharacters(in: .whitespacesAndNewlines)
            if !text.isEmpty { message = text }
        }
        let contentType = response.headers["Content-Type"]?.lowercased() ?? ""
        if response.status == 404, !(isPlivos && contentType.contains("json")) {
            // A 404 decides that an application was deleted, so only Plivo's own may: a
            // middlebox's HTML page, an empty body or another content type is retried.
            let shown = contentType.isEmpty ? "no content type" : contentType
            return PlivoError(
                kind: .transport,
                status: 404,
                message: "HTTP 404 that is not Plivo's (\(shown)): \(Self.shorten(message ?? "empty body"))",
                retryAfter: response.retryAfter(),
                request: request
            )
        }
        return PlivoError(
            kind: .api,
            status: response.status,
            apiId: apiId?.isEmpty == true ? nil : apiId,
            message: message ?? defaultMessage(for: response.status),
            retryAfter: response.retryAfter(),
            request: request
        )
    }

    private static func shorten(_ text: String) -> String {
        let flat = text.split(whereSeparator: \.isNewline).joined(separator: " ")
        return flat.count > 120 ? flat.prefix(120) + "…" : flat
    }

    /// `text` on one line and at most ``HTTPTransportError/maxDescriptionLength`` characters,
    /// as every error description in the project is.
    public static func bounded(_ text: String) -> String { HTTPTransportError.bounded(text) }

    /// The calling task was cancelled during `request`.
    public static func cancelled(request: String = "") -> PlivoError {
        PlivoError(kind: .cancelled, message: "cancelled", request: request)
    }

    private static func extractMessage(_ object: [String: JSONValue]) -> String? {
        for key in ["error", "global_error", "message"] {
            switch object[key] {
            case .string(let text)? where !text.isEmpty: return text
            case .object(let nested)?: if let text = extractMessage(nested) { return text }
            default: continue
            }
        }
        return nil
    }

    private static func defaultMessage(for status: Int) -> String {
        switch status {
        case 401: "authentication failed"
        case 404: "not found"
        case 429: "too many requests"
        default: "no error message in response"
        }
    }
}
