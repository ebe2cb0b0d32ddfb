internal import BuildInfo
internal import CCurl
import Foundation

/// The libcurl implementation of ``HTTPTransport``.
///
/// - Connections are reused across requests (one curl multi handle and its connection cache).
/// - Transfers run on a dedicated thread, never on the cooperative pool, at most
///   ``Configuration/maxConcurrentTransfers`` at once.
/// - TLS verification is always on. Only `http` and `https` are allowed. Redirects are never
///   followed: a 3xx is returned like any other status.
/// - Cancelling the calling task aborts the transfer.
public final class CurlTransport: HTTPTransport {
    /// Settings for a transport.
    public struct Configuration: Sendable {
        /// Time allowed to establish a connection.
        public var connectTimeout: Duration
        /// Time allowed for a whole request, unless the request sets its own.
        public var timeout: Duration
        /// Responses with a larger body fail with ``HTTPTransportError/Kind/bodyTooLarge``.
        public var maxResponseBytes: Int
        /// Transfers allowed to run at once; more wait in a queue.
        public var maxConcurrentTransfers: Int
        /// Sent as `User-Agent` unless the request sets one.
        public var userAgent: String
        /// A PEM file of CA certificates to trust instead of the system store. Verification stays on.
        public var caBundlePath: String?

        /// Creates a configuration; the defaults suit API calls.
        public init(
            connectTimeout: Duration = .seconds(10),
            timeout: Duration = .seconds(30),
            maxResponseBytes: Int = 4 * 1024 * 1024,
            maxConcurrentTransfers: Int = 8,
            userAgent: String = complianceWatchUserAgent,
            caBundlePath: String? = nil
        ) {
            self.connectTimeout = connectTimeout
            self.timeout = timeout
            self.maxResponseBytes = maxResponseBytes
            self.maxConcurrentTransfers = maxConcurrentTransfers
            self.userAgent = userAgent
            self.caBundlePath = caBundlePath
        }
    }

    /// The settings this transport was made with.
    public let configuration: Configuration
    private let engine: CurlEngine

    /// Creates a transport and starts its transfer thread.
    public init(configuration: Configuration = Configuration()) {
        self.configuration = configuration
        engine = CurlEngine(maxConcurrent: configuration.maxConcurrentTransfers, name: "curl-http")
    }

    deinit {
        engine.shutdown()
    }

    /// Aborts running transfers and stops the transfer thread; later sends throw
    /// `CancellationError`. Also done when the last reference goes away.
    public func shutdown() {
        engine.shutdown()
    }

    /// Performs `request`; see ``HTTPTransport``.
    public func send(_ request: HTTPRequest) async throws -> HTTPResponse {
        let outcome = try await perform(url: request.url, maxBodyBytes: request.maxResponseBytes) { transfer in
            try self.configure(transfer, for: request)
        }
        return HTTPResponse(status: outcome.status, headers: outcome.headers, body: outcome.body)
    }

    /// Runs one transfer that `setup` configures, with cancellation wired to the task.
    func perform(
        url: String,
        maxBodyBytes: Int? = nil,
        setup: (CurlTransfer) throws -> Void
    ) async throws -> CurlOutcome {
        try Task.checkCancellation()
        let box = TransferBox()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<CurlOutcome, any Error>) in
                do {
                    let transfer = try CurlTransfer(
                        url: url,
                        maxBodyBytes: maxBodyBytes ?? configuration.maxResponseBytes
                    ) { result in
                        continuation.resume(with: result)
                    }
                    try setup(transfer)
                    box.set(transfer)
                    if Task.isCancelled { engine.cancel(transfer) }
                    engine.submit(transfer)
                } catch {
                    continuation.resume(throwing: error)
                }
            }
        } onCancel: {
            if let transfer = box.get() { engine.cancel(transfer) }
        }
    }

    private func configure(_ transfer: CurlTransfer, for request: HTTPRequest) throws {
        try transfer.set(CURLOPT_PROTOCOLS_STR, "http,https")
        try transfer.set(CURLOPT_REDIR_PROTOCOLS_STR, "http,https")
        try transfer.set(
            CURLOPT_CONNECTTIMEOUT_MS,
            Int((request.connectTimeout ?? configuration.connectTimeout).milliseconds)
        )
        try transfer.set(CURLOPT_TIMEOUT_MS, Int((request.timeout ?? configuration.timeout).milliseconds))
        try transfer.set(CURLOPT_ACCEPT_ENCODING, "")
        if let ca = configuration.caBundlePath { try transfer.set(CURLOPT_CAINFO, ca) }

        var lines = ["Expect:"]  // no 100-continue round trip for uploads
        if !request.headers.contains(where: { $0.name.caseInsensitiveCompare("User-Agent") == .orderedSame }) {
            lines.append("User-Agent: \(configuration.userAgent)")
        }
        lines += request.headers.map { "\($0.name): \($0.value)" }

        if let credentials = request.credentials {
            try transfer.set(CURLOPT_HTTPAUTH, 1)  // CURLAUTH_BASIC
            try transfer.set(CURLOPT_USERNAME, credentials.username)
            try transfer.set(CURLOPT_PASSWORD, credentials.password)
        }

        switch request.body {
        case .none:
            if request.method == .post {
                try transfer.setLarge(CURLOPT_POSTFIELDSIZE_LARGE, 0)
                try transfer.set(CURLOPT_COPYPOSTFIELDS, "")
            }
        case .data(let data, let contentType):
            lines.append("Content-Type: \(contentType)")
            try transfer.setLarge(CURLOPT_POSTFIELDSIZE_LARGE, Int64(data.count))
            try data.withUnsafeBytes { raw in
                // COPYPOSTFIELDS copies exactly POSTFIELDSIZE bytes, so binary bodies are safe.
                try transfer.setPointer(
                    CURLOPT_COPYPOSTFIELDS,
                    UnsafeMutableRawPointer(mutating: raw.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!)
                )
            }
        case .multipart(let parts):
            try transfer.setMultipart(parts)
        }
        switch request.method {
        case .get: try transfer.set(CURLOPT_HTTPGET, 1)
        case .post: break  // implied by the body options
        case .put, .patch, .delete: try transfer.set(CURLOPT_CUSTOMREQUEST, request.method.rawValue)
        }
        try transfer.setHeaders(lines)
    }
}

/// Hands the transfer from the continuation body to the cancellation handler.
private final class TransferBox: @unchecked Sendable {
    private let lock = NSLock()
    private var transfer: CurlTransfer?

    func set(_ transfer: CurlTransfer) {
        lock.withLock { self.transfer = transfer }
    }

    func get() -> CurlTransfer? {
        lock.withLock { transfer }
    }
}

/// The version reported in `User-Agent`, `--version` and `build_info` (`BuildInfo`, from `VERSION`).
public let complianceWatchVersion = BuildInfo.version
/// The commit the binary was built from, shown by `--version` and in `build_info`.
public let complianceWatchCommit = BuildInfo.commit
/// What every HTTP request of ours says it is, unless a request sets its own.
public let complianceWatchUserAgent = "compliance-watch/\(complianceWatchVersion)"
