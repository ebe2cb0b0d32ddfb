import CurlHTTP
import Foundation
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
        public var message: MailMessage
        public var transport: Transport

        public init(message: MailMessage, transport: Transport) {
            self.message = message
            self.transport = transport
        }
    }

    public let name: String
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

    /// Runs the command with the message on stdin; a non-zero exit or a timeout is retryable and
    /// keeps the command's stderr.
    static func runCommand(_ argv: [String], input: Data, timeout: Duration) async throws(DeliveryError) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: argv[0])
        process.arguments = Array(argv.dropFirst())
        let stdin = Pipe(), stderr = Pipe()
        process.standardInput = stdin
        process.standardError = stderr
        process.standardOutput = FileHandle.nullDevice
        let exited = AsyncExit()
        process.terminationHandler = { _ in exited.signal() }
        do {
            try process.run()
        } catch {
            throw .retryable("cannot run \(argv[0]): \(error.localizedDescription)")
        }
        // Feeding stdin and draining stderr block, so they run on a Dispatch thread while we wait
        // for the exit with a deadline.
        async let errorOutput = withCheckedContinuation { (continuation: CheckedContinuation<Data, Never>) in
            DispatchQueue.global().async {
                try? stdin.fileHandleForWriting.write(contentsOf: input)
                try? stdin.fileHandleForWriting.close()
                continuation.resume(returning: stderr.fileHandleForReading.readDataToEndOfFile())
            }
        }
        if await !exited.wait(timeout: timeout) {
            // SIGKILL: a child may have inherited a blocked SIGTERM.
            kill(process.processIdentifier, SIGKILL)
            _ = await exited.wait(timeout: .seconds(5))
            _ = await errorOutput
            throw .retryable("\(argv[0]) did not finish within \(timeout)")
        }
        let output = await errorOutput
        guard process.terminationStatus == 0 else {
            let text = String(decoding: output.prefix(500), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            throw .retryable("\(argv[0]) exited with status \(process.terminationStatus)\(text.isEmpty ? "" : ": \(text)")")
        }
    }
}

/// Waits for a process's termination handler, with a timeout.
final class AsyncExit: Sendable {
    private let doorbell = Doorbell()
    private let done = StopSignal()

    func signal() {
        done.raise()
        doorbell.ring()
    }

    func wait(timeout: Duration) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while !done.isRaised, ContinuousClock.now < deadline {
            await doorbell.wait(timeout: deadline - ContinuousClock.now)
        }
        return done.isRaised
    }
}
