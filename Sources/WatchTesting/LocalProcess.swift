import Foundation

/// A free loopback port for a server a test or benchmark is about to start.
public enum LocalPorts {
    /// A TCP port on 127.0.0.1 that nobody listens on now (bound to port 0, read, released).
    public static func free() throws -> UInt16 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0
            }
        }
        guard fd >= 0, bound else { throw FixtureError("cannot find a free port on 127.0.0.1: errno \(errno)") }
        return UInt16(bigEndian: address.sin_port)
    }
}

/// `/proc/PID/stat` of a process, read after the command name (which may hold spaces).
public enum ProcStat {
    /// The fields after `(comm)`: index 0 is the state, 1 the parent pid, 11 and 12 utime and
    /// stime in clock ticks. `nil` once the process is gone.
    public static func fields(of pid: Int32) -> [Substring]? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = text.lastIndex(of: ")")
        else { return nil }
        return text[text.index(after: close)...].split(separator: " ")
    }

    /// The parent pid, or `nil` once the process is gone.
    public static func parent(of pid: Int32) -> Int32? {
        fields(of: pid).flatMap { $0.count > 1 ? Int32($0[1]) : nil }
    }

    /// User plus system CPU seconds, or 0 once the process is gone.
    public static func cpuSeconds(of pid: Int32) -> Double {
        guard let fields = fields(of: pid), fields.count > 12, let user = Double(fields[11]),
            let system = Double(fields[12])
        else { return 0 }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }
}
