import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The single-writer lock: `run` and `once` hold an exclusive `flock` on `<state>.lock`, beside
/// the state database, for their whole life. A second writer would classify against stale
/// snapshots and extend the audit chain from a second in-memory head, so it is refused.
///
/// The kernel drops the lock when the process dies, however it dies: no stale lock after SIGKILL.
/// Read-only commands (`status`, `deliveries list`, `audit verify`) never take it.
public final class StateLock: Sendable {
    /// The lock file's path.
    public let path: String
    private let descriptor: Int32

    /// Another process holds the lock.
    public struct Busy: Error, Sendable, CustomStringConvertible {
        /// The state database the lock is for.
        public var statePath: String
        /// The process holding it, when the lock file says.
        public var pid: Int32?
        public var description: String {
            "state \(statePath) is in use by " + (pid.map { "pid \($0)" } ?? "another process")
        }
    }

    /// Takes the lock for the state database at `statePath`, without waiting.
    /// - Throws: ``Busy`` when another process holds it; ``StoreError`` when the file cannot be opened.
    public static func acquire(statePath: String) throws -> StateLock {
        let directory = URL(fileURLWithPath: statePath).deletingLastPathComponent().path
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let path = statePath + ".lock"
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw StoreError(
                path: statePath,
                message: "cannot open lock file \(path): \(String(cString: strerror(errno)))"
            )
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let reason = errno
            defer { close(fd) }
            guard reason == EWOULDBLOCK else {
                throw StoreError(path: statePath, message: "cannot lock \(path): \(String(cString: strerror(reason)))")
            }
            var buffer = [UInt8](repeating: 0, count: 64)
            let count = pread(fd, &buffer, buffer.count, 0)
            let text = count > 0 ? String(decoding: buffer[..<count], as: UTF8.self) : ""
            throw Busy(
                statePath: statePath,
                pid: text.split(whereSeparator: \.isWhitespace).first.flatMap { Int32($0) }
            )
        }
        let record = Array("\(getpid()) \(Date().timeIntervalSince1970)\n".utf8)
        _ = ftruncate(fd, 0)
        _ = pwrite(fd, record, record.count, 0)
        return StateLock(path: path, descriptor: fd)
    }

    /// Who holds the lock of the state at `statePath`, without taking it: the pid and since
    /// when, `nil` when no process does. Throws when that cannot be told (no permission).
    public static func holder(statePath: String) throws -> (pid: Int32, since: Date?)? {
        let path = statePath + ".lock"
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            if errno == ENOENT { return nil }
            throw StoreError(
                path: statePath,
                message: "cannot open lock file \(path): \(String(cString: strerror(errno)))"
            )
        }
        defer { close(fd) }
        if flock(fd, LOCK_SH | LOCK_NB) == 0 {
            flock(fd, LOCK_UN)
            return nil
        }
        var buffer = [UInt8](repeating: 0, count: 64)
        let count = pread(fd, &buffer, buffer.count, 0)
        let fields = (count > 0 ? String(decoding: buffer[..<count], as: UTF8.self) : "").split(
            whereSeparator: \.isWhitespace
        )
        guard let pid = fields.first.flatMap({ Int32($0) }) else { return (0, nil) }
        return (pid, fields.dropFirst().first.flatMap { Double($0) }.map(Date.init(timeIntervalSince1970:)))
    }

    private init(path: String, descriptor: Int32) {
        self.path = path
        self.descriptor = descriptor
    }

    deinit {
        // The lock goes with the descriptor.
        close(descriptor)
    }
}
