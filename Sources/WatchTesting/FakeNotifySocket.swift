import Foundation
import Synchronization

/// A fake service manager: an AF_UNIX datagram socket the daemon's sd_notify talks to.
public final class FakeNotifySocket: Sendable {
    let fd: Int32
    /// What to put in `NOTIFY_SOCKET`.
    public let environmentValue: String
    private let path: String?
    private let messages = Mutex<[(at: ContinuousClock.Instant, text: String)]>([])
    private let stopped = Atomic<Bool>(false)

    /// Binds a socket: in the abstract namespace, or as a file.
    public init(abstract: Bool) throws {
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let name: [UInt8]
        if abstract {
            let n = "cw-notify-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
            environmentValue = "@" + n
            path = nil
            name = [0] + Array(n.utf8)
        } else {
            let p = FileManager.default.temporaryDirectory.appendingPathComponent("notify-\(UUID().uuidString).sock")
                .path
            environmentValue = p
            path = p
            name = Array(p.utf8) + [0]
        }
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: name) }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + (abstract ? name.count : name.count - 1))
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        guard fd >= 0, result == 0 else { throw POSIXError(.EADDRINUSE) }
        // Drain continuously on a thread of its own: libsystemd blocks once the queue holds 10 datagrams.
        Thread { [self] in
            var buffer = [UInt8](repeating: 0, count: 4096)
            while !stopped.load(ordering: .relaxed) {
                var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                guard poll(&pfd, 1, 100) == 1 else { continue }
                let n = recv(fd, &buffer, buffer.count, 0)
                if n > 0 {
                    let text = String(decoding: buffer[0..<n], as: UTF8.self)
                    messages.withLock { $0.append((.now, text)) }
                }
            }
        }.start()
    }

    /// Every datagram received, with when.
    public var all: [(at: ContinuousClock.Instant, text: String)] { messages.withLock { $0 } }

    /// Datagrams containing the line `line` (e.g. "READY=1").
    public func count(_ line: String) -> Int {
        all.filter { $0.text.split(separator: "\n").contains(Substring(line)) }.count
    }

    /// Waits until `condition` holds over the messages, up to `timeout`.
    public func wait(_ timeout: Duration = .seconds(15), until condition: ([String]) -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if condition(all.map(\.text)) { return true }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return condition(all.map(\.text))
    }

    deinit {
        stopped.store(true, ordering: .relaxed)
        usleep(150_000)
        close(fd)
        if let path { unlink(path) }
    }
}
