import Foundation
import WatchCore

/// Appends each event as one JSON line to a file: the audit trail.
///
/// The file is opened with `O_APPEND` (mode 0640, directory created when missing), and a delivery
/// counts as done only after `fsync`. Writes from concurrent deliveries are serialised by the actor.
public actor FileSink: Sink {
    /// `type = "file"` settings.
    public struct Configuration: Sendable {
        /// `path`: the JSON Lines file.
        public var path: String

        public init(path: String) { self.path = path }
    }

    public nonisolated let name: String
    public let configuration: Configuration
    private var descriptor: Int32 = -1

    public init(name: String, configuration: Configuration) {
        self.name = name
        self.configuration = configuration
    }

    deinit {
        if descriptor >= 0 { close(descriptor) }
    }

    public func deliver(_ event: Event) async throws(DeliveryError) {
        var line = event.canonicalJSON()
        line.append(0x0A)
        try append(line)
    }

    /// Closes the file so the next write opens it again (after logrotate moved it).
    public func reopen() {
        if descriptor >= 0 { close(descriptor) }
        descriptor = -1
    }

    func append(_ data: Data) throws(DeliveryError) {
        let fd = try open()
        var offset = 0
        while offset < data.count {
            let written = data.withUnsafeBytes { raw in
                write(fd, raw.baseAddress! + offset, raw.count - offset)
            }
            if written < 0 {
                if errno == EINTR { continue }
                throw failure("cannot write to", errno)
            }
            offset += written
        }
        guard fsync(fd) == 0 else { throw failure("cannot fsync", errno) }
    }

    private func open() throws(DeliveryError) -> Int32 {
        if descriptor >= 0 { return descriptor }
        let directory = URL(fileURLWithPath: configuration.path).deletingLastPathComponent().path
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw .retryable("cannot create directory \(directory) for \(configuration.path): \(error.localizedDescription)")
        }
        let fd = Foundation.open(configuration.path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o640)
        guard fd >= 0 else { throw failure("cannot open", errno) }
        descriptor = fd
        return fd
    }

    private func failure(_ what: String, _ code: Int32) -> DeliveryError {
        // Disk full, read-only or permission problems are fixed by an operator; keep retrying.
        .retryable("\(what) \(configuration.path): \(String(cString: strerror(code)))")
    }
}
