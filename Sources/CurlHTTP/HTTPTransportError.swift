import Foundation

/// A transfer that an ``HTTPTransport`` or ``SMTPTransport`` could not complete.
///
/// Transport-neutral: callers decide on ``kind`` and ``isRetryable``, never on which library
/// ran the transfer. It carries that library's numeric code and text (libcurl's `CURLcode`,
/// `curl_easy_strerror` and its error buffer) for the logs, and the URL reduced to scheme,
/// host and port. It never holds credentials or a URL's path.
public struct HTTPTransportError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What kind of failure this is, for retry decisions.
    public enum Kind: String, Sendable, Equatable {
        /// Connection refused, reset, DNS failure, TLS failure or an interrupted body.
        case network
        /// The connect or total timeout fired.
        case timeout
        /// The response body was larger than the transport's cap.
        case bodyTooLarge
        /// The request itself was unusable (bad URL, disallowed protocol, bad option).
        case invalidRequest
    }

    /// The classification.
    public var kind: Kind
    /// The underlying library's code (libcurl's `CURLcode`; 0 for errors raised before it ran).
    public var code: Int32
    /// The library's text for `code` (`curl_easy_strerror`).
    public var message: String
    /// More detail when the library gave some (`CURLOPT_ERRORBUFFER`, an SMTP server's reply).
    public var detail: String
    /// The request URL as ``redact(_:)`` shows it: scheme, host and port only.
    public var url: String

    /// Creates an error; `url` is redacted here so no caller can forget.
    public init(kind: Kind, code: Int32, message: String, detail: String = "", url: String) {
        self.kind = kind
        self.code = code
        self.message = message
        self.detail = detail
        self.url = HTTPTransportError.redact(url)
    }

    /// Network failures and timeouts are worth retrying; the other kinds are not.
    public var isRetryable: Bool { kind == .network || kind == .timeout }

    /// One line for logs, at most ``maxDescriptionLength`` characters: a server's reply quoted
    /// in `detail` can be long.
    public var description: String {
        let extra = detail.isEmpty || detail == message ? "" : " (\(detail))"
        return Self.bounded("curl error \(code) \(message)\(extra) for \(url)")
    }

    /// The longest ``description`` (and ``PlivoError``'s) may be.
    public static let maxDescriptionLength = 300

    /// `text` on one line, cut to ``maxDescriptionLength`` characters with an ellipsis.
    public static func bounded(_ text: String) -> String {
        let flat =
            text.contains(where: \.isNewline) ? text.split(whereSeparator: \.isNewline).joined(separator: " ") : text
        return flat.count > maxDescriptionLength ? flat.prefix(maxDescriptionLength - 1) + "…" : flat
    }

    /// A URL as it may be shown: `scheme://host[:port]/…`. User info, path and query are
    /// removed, since a chat webhook URL's path is a bearer secret
    /// (`https://hooks.slack.com/services/T…/B…/XXXX`).
    public static func redact(_ url: String) -> String {
        guard let components = URLComponents(string: url), let scheme = components.scheme, let host = components.host,
            !host.isEmpty
        else {
            return "<url>"
        }
        var shown = "\(scheme)://\(host.contains(":") && !host.hasPrefix("[") ? "[\(host)]" : host)"
        if let port = components.port { shown += ":\(port)" }
        let hasMore =
            !(components.percentEncodedPath.isEmpty || components.percentEncodedPath == "/")
            || components.percentEncodedQuery != nil || components.fragment != nil
        return shown + (hasMore ? "/…" : "/")
    }
}
