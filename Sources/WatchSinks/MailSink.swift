import CurlHTTP
import Foundation
import Subprocess
import WatchCore

/// Mails events, through a sendmail-style command or SMTP.
public struct MailSink: Sink {
    /// How the message leaves the machine.
    public enum Transport: Sendable {
        /// `transport = "command"`: argv (no shell), the message on stdin.
        case command(argv: [String], timeout: Duration)
        /// `transport = "smtp"`: libcurl SMTP.
        case smtp(SMTPTransport.Configuration)
    }

    /// `transport`.
    public enum TransportKind: String, Sendable, CaseIterable {
        /// A sendmail-style command.
        case command
        /// libcurl SMTP.
        case smtp
    }

    /// `starttls` for SMTP.
    public enum StartTLS: String, Sendable, CaseIterable {
        /// STARTTLS must succeed (the default).
        case required
        /// Plain text; loopback relays only.
        case none
    }

    /// The command when `command` is not set.
    public static let defaultCommand = ["/usr/sbin/sendmail", "-t", "-oi"]

    /// `type = "mail"` settings.
    public struct Configuration: Sendable {
        /// Addresses and subject.
        public var message: MailMessage
        /// How it leaves the machine.
        public var transport: Transport

        /// Creates the settings.
        public init(message: MailMessage, transport: Transport) {
            self.message = message
            self.transport = transport
        }
    }

    /// The sink's name.
    public let name: String
    /// Its settings.
    public let configuration: Configuration
    private let smtp: SMTPTransport?

    /// Creates the sink; SMTP goes through `transport` (shared in the daemon) when given.
    public init(name: String, configuration: Configuration, transport: CurlTransport? = nil) {
        self.name = name
        self.configuration = configuration
        if case .smtp(let settings) = configuration.transport {
            smtp = SMTPTransport(configuration: settings, transport: transport)
        } else {
            smtp = nil
        }
    }

    public func deliver(_ event: Event) async throws(DeliveryError) {
        let message = configuration.message.render(event)
        switch configuration.transport {
        case .command(let argv, let timeout):
            try await Self.runCommand(argv, input: message, timeout: timeout)
        case .smtp:
            do {
                try await smtp!.send(from: configuration.message.from, to: configuration.message.to, message: message)
            } catch let error as HTTPTransportError {
                // Rejected credentials (CURLE_LOGIN_DENIED) will not fix themselves: dead-letter,
                // to be redelivered once the password is corrected. Anything else may pass later.
                if error.code == 67 { throw .final(error.description) }
                throw .retryable(error.description)
            } catch {
                throw .retryable("\(error)")
            }
        }
    }

    /// How much of the command's stderr is kept for the error message.
    static let stderrLimit = 2048

    /// Runs the command (no shell) with the message on stdin. A non-zero exit, a timeout or a
    /// command that cannot start is retryable and keeps the first ``stderrLimit`` bytes of its
    /// stderr; the rest is read and dropped, so a chatty command never blocks on a full pipe.
    /// On timeout the task is cancelled and swift-subprocess's teardown sends SIGTERM, then
    /// SIGKILL two seconds later.
    static func runCommand(_ argv: [String], input: Data, timeout: Duration) async throws(DeliveryError) {
        // The message goes in as an unlinked temporary file, not a pipe: a command that exits
        // without reading it cannot raise SIGPIPE or EPIPE in the daemon, and nothing has to feed it.
        var template = Array((NSTemporaryDirectory() + "/compliance-watch-mail.XXXXXX").utf8CString)
        let message = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard message >= 0 else {
            throw .retryable("cannot hold the message for \(argv[0]): \(String(cString: strerror(errno)))")
        }
        template.withUnsafeBufferPointer { _ = unlink($0.baseAddress!) }
        _ = fcntl(message, F_SETFD, FD_CLOEXEC)  // only the command inherits it, as its stdin
        var handedOver = false
        defer { if !handedOver { close(message) } }
        let written = input.withUnsafeBytes { raw in raw.isEmpty ? 0 : write(message, raw.baseAddress!, raw.count) }
        guard written == input.count, lseek(message, 0, SEEK_SET) == 0 else {
            throw .retryable("cannot hold the message for \(argv[0]): \(String(cString: strerror(errno)))")
        }
        var options = PlatformOptions()
        options.teardownSequence = [.gracefulShutDown(allowedDurationToNextStep: .seconds(2))]
        handedOver = true
        let run = Task { () async throws -> ExecutionResult<Data, DiscardedOutput, SequenceOutput> in
            try await Subprocess.run(
                .path(.init(argv[0])),
                arguments: Arguments(Array(argv.dropFirst())),
                platformOptions: options,
                input: .fileDescriptor(.init(rawValue: message), closeAfterSpawningProcess: true),
                output: .discarded,
                error: .sequence
            ) { execution in
                var kept = Data()
                for try await buffer in execution.standardError where kept.count < stderrLimit {
                    buffer.withUnsafeBytes { kept.append(contentsOf: $0.prefix(stderrLimit - kept.count)) }
                }
                return kept
            }
        }
        let timedOut = Task {
            try await Task.sleep(for: timeout)
            run.cancel()
        }
        defer { timedOut.cancel() }
        let result: ExecutionResult<Data, DiscardedOutput, SequenceOutput>
        do {
            result = try await withTaskCancellationHandler {
                try await run.value
            } onCancel: {
                run.cancel()
            }
        } catch {
            if run.isCancelled, !Task.isCancelled { throw .retryable("\(argv[0]) did not finish within \(timeout)") }
            throw .retryable("cannot run \(argv[0]): \(error)")
        }
        // Cancelled by the deadline: the teardown ended it, whatever status that left.
        if run.isCancelled, !Task.isCancelled { throw .retryable("\(argv[0]) did not finish within \(timeout)") }
        guard case .exited(0) = result.terminationStatus else {
            let text = String(decoding: result.closureResult, as: UTF8.self).trimmingCharacters(
                in: .whitespacesAndNewlines
            )
            throw .retryable("\(argv[0]) \(describe(result.terminationStatus))\(text.isEmpty ? "" : ": \(text)")")
        }
    }

    private static func describe(_ status: TerminationStatus) -> String {
        switch status {
        case .exited(let code): "exited with status \(code)"
        case .signaled(let signal): "was killed by signal \(signal)"
        }
    }
}
