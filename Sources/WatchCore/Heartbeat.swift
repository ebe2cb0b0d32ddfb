import Synchronization

/// When the poll loop last made progress: a request answered, a backoff slice slept, a cycle
/// finished. The systemd watchdog pings only while this is fresh, so a hung loop stops the
/// pings while an API outage (requests keep failing quickly) does not.
public final class Heartbeat: Sendable {
    /// The clock every part of the poll loop tells time by.
    public let clock: any WatchClock
    private let last: Mutex<Duration>

    /// A heartbeat that has just beaten.
    public init(clock: any WatchClock = SystemClock()) {
        self.clock = clock
        last = Mutex(clock.uptime)
    }

    /// Records progress now.
    public func beat() {
        let now = clock.uptime
        last.withLock { $0 = now }
    }

    /// Time since the last beat.
    public var age: Duration {
        let now = clock.uptime
        return last.withLock { now - $0 }
    }

    /// Sleeps in slices of at most one second, beating after each, so a long wait between
    /// polls never looks like a hang.
    public func sleep(for duration: Duration) async throws {
        let deadline = clock.uptime + duration
        while clock.uptime < deadline {
            try await clock.sleep(for: min(.seconds(1), deadline - clock.uptime))
            beat()
        }
    }
}
