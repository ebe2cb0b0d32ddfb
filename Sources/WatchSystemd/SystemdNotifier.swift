internal import CSystemd
import Foundation

/// Talks to the service manager through `sd_notify(3)`. Every call is a no-op when
/// `NOTIFY_SOCKET` is unset (a terminal, a test, cron).
public struct SystemdNotifier: Sendable {
    /// A notifier for `NOTIFY_SOCKET`; without it every call is a no-op.
    public init() {}

    /// Whether a service manager listens.
    public var isEnabled: Bool { ProcessInfo.processInfo.environment["NOTIFY_SOCKET"] != nil }

    /// Sends `KEY=VALUE` lines in one datagram. Errors are ignored, as sd_notify(3) advises.
    public func send(_ fields: [String]) {
        guard isEnabled else { return }
        _ = sd_notify(0, fields.joined(separator: "\n"))
    }

    /// `READY=1` with the first status line.
    public func ready(status: String) { send(["READY=1", "STATUS=\(Self.oneLine(status))"]) }
    /// A new status line (one line, bounded).
    public func status(_ status: String) { send(["STATUS=\(Self.oneLine(status))"]) }
    /// `WATCHDOG=1`: the loop is alive.
    public func watchdog() { send(["WATCHDOG=1"]) }
    /// `STOPPING=1` with a last status line.
    public func stopping(status: String) { send(["STOPPING=1", "STATUS=\(Self.oneLine(status))"]) }

    /// `RELOADING=1` with `MONOTONIC_USEC` in the same datagram (required by systemd ≥ 253, harmless on 252).
    public func reloading() { send(["RELOADING=1", "MONOTONIC_USEC=\(Self.monotonicMicroseconds())"]) }

    /// The last words of a daemon that cannot start: `STATUS=` and `ERRNO=`.
    public func fatal(status: String, errno code: Int32) { send(["STATUS=\(Self.oneLine(status))", "ERRNO=\(code)"]) }

    /// Half of `WATCHDOG_USEC` when the watchdog is on for this process (sd_watchdog_enabled(3)).
    public func watchdogPingInterval() -> Duration? {
        var usec: UInt64 = 0
        guard sd_watchdog_enabled(0, &usec) > 0, usec > 0 else { return nil }
        return .microseconds(Int64(usec / 2))
    }

    static func monotonicMicroseconds() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000 + UInt64(ts.tv_nsec) / 1_000
    }

    static func oneLine(_ text: String) -> String {
        text.replacingOccurrences(of: "\n", with: " ").replacingOccurrences(of: "\r", with: " ")
    }
}
