import Foundation

/// A transfer that libcurl could not complete.
///
/// Carries curl's numeric code, `curl_easy_strerror`'s text, the error buffer's detail and the
/// URL with any user info removed. It never holds credentials.
public struct CurlError: Error, Sendable, Equatable, CustomStringConvertible {
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
    /// The `CURLcode` value (0 for errors raised before curl ran).
    public var code: Int32
    /// `curl_easy_strerror(code)`.
    public var message: String
    /// The `CURLOPT_ERRORBUFFER` text, when curl wrote one.
    public var detail: String
    /// The request URL as ``redact(_:)`` shows it: scheme, host and port only.
    public var url: String

    /// Creates an error; `url` is redacted here so no caller can forget.
    public init(kind: Kind, code: Int32, message: String, detail: String = "", url: String) {
        self.kind = kind
        self.code = code
        self.message = message
        self.detail = detail
        self.url = CurlError.redact(url)
    }

    /// Network failures and timeouts are worth retrying; the other kinds are not.
    public var isRetryable: Bool { kind == .network || kind == .timeout }

    public var description: String {
        let extra = detail.isEmpty || detail == message ? "" : " (\(detail))"
        return "curl error \(code) \(message)\(extra) for \(url)"
    }

    /// A URL as it may be shown: `scheme://host[:port]/…`. User info, path and query are
    /// removed, since a chat webhook URL's path is a bearer secret
    /// (`https://hooks.slack.com/services/T…/B…/XXXX`).
    public static func redact(_ url: String) -> String {
        guard let components = URLComponents(string: url), let scheme = components.scheme, let host = components.host,
              !host.isEmpty else {
            return "<url>"
        }
        var shown = "\(scheme)://\(host.contains(":") && !host.hasPrefix("[") ? "[\(host)]" : host)"
        if let port = components.port { shown += ":\(port)" }
        let hasMore = !(components.percentEncodedPath.isEmpty || components.percentEncodedPath == "/")
            || components.percentEncodedQuery != nil || components.fragment != nil
        return shown + (hasMore ? "/…" : "/")
    }
}
