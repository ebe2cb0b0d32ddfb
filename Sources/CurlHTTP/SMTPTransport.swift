internal import CCurl
import Foundation

/// Sends one RFC 5322 message over SMTP with libcurl (`smtp://` with STARTTLS, or `smtps://`).
///
/// TLS certificates are always verified. STARTTLS is required unless `allowPlaintext` is set,
/// which callers only permit for loopback relays.
public final class SMTPTransport: Sendable {
    /// Where and how to connect.
    public struct Configuration: Sendable {
        /// `smtp://host:port` or `smtps://host:port`.
        public var url: String
        /// SMTP AUTH user and password, when the relay wants them.
        public var credentials: BasicCredentials?
        /// Skip STARTTLS on `smtp://` (loopback relays only).
        public var allowPlaintext: Bool
        /// The whole conversation's limit (connecting: at most 10 s of it).
        public var timeout: Duration
        /// A PEM file of CA certificates to trust instead of the system store.
        public var caBundlePath: String?

        /// Creates the settings; STARTTLS is required unless `allowPlaintext`.
        public init(
            url: String,
            credentials: BasicCredentials? = nil,
            allowPlaintext: Bool = false,
            timeout: Duration = .seconds(30),
            caBundlePath: String? = nil
        ) {
            self.url = url
            self.credentials = credentials
            self.allowPlaintext = allowPlaintext
            self.timeout = timeout
            self.caBundlePath = caBundlePath
        }
    }

    /// Where and how to connect.
    public let configuration: Configuration
    private let transport: CurlTransport

    /// Creates a transport that sends through `transport`'s transfer thread (the daemon shares
    /// one among every HTTP and SMTP user), or through a small one of its own.
    public init(configuration: Configuration, transport: CurlTransport? = nil) {
        self.configuration = configuration
        self.transport =
            transport ?? CurlTransport(configuration: .init(timeout: configuration.timeout, maxConcurrentTransfers: 2))
    }

    /// Sends `message` from `sender` to `recipients`.
    /// - Throws: ``HTTPTransportError`` (the server's refusal is in `detail`).
    public func send(from sender: String, to recipients: [String], message: Data) async throws {
        let c = configuration
        _ = try await transport.perform(url: c.url, maxBodyBytes: 1 << 16) { transfer in
            try transfer.set(CURLOPT_PROTOCOLS_STR, "smtp,smtps")
            try transfer.set(CURLOPT_CONNECTTIMEOUT_MS, Int(min(c.timeout, .seconds(10)).milliseconds))
            try transfer.set(CURLOPT_TIMEOUT_MS, Int(c.timeout.milliseconds))
            // CURLUSESSL_ALL (3) fails unless STARTTLS succeeds; CURLUSESSL_NONE (0) for loopback only.
            try transfer.set(CURLOPT_USE_SSL, c.allowPlaintext ? 0 : 3)
            if let ca = c.caBundlePath { try transfer.set(CURLOPT_CAINFO, ca) }
            if let credentials = c.credentials {
                try transfer.set(CURLOPT_USERNAME, credentials.username)
                try transfer.set(CURLOPT_PASSWORD, credentials.password)
            }
            try transfer.set(CURLOPT_MAIL_FROM, "<\(sender)>")
            try transfer.setList(CURLOPT_MAIL_RCPT, recipients.map { "<\($0)>" })
            try transfer.setUpload(message)
        }
    }
}
