import Synchronization

/// When the poll loop last made progress: a request answered, a backoff slice slept, a cycle
/// finished. The systemd watchdog pings only while this is fresh, so a hung loop stops the
/// pings while an API outage (requests keep failing quickly) does not.
public final class Heartbeat: Sendable {
    private let last = Mutex(ContinuousClock.now)

    public init() {}

    public func beat() { last.withLock { $0 = .now } }

    /// Time since the last beat.
    public var age: Duration { last.withLock { ContinuousClock.now - $0 } }

    /// Sleeps in slices of at most one second, beating after each, so a long wait between
    /// polls never looks like a hang.
    public func sleep(for duration: Duration) async throws {
        let deadline = ContinuousClock.now + duration
        while ContinuousClock.now < deadline {
            try await Task.sleep(for: min(.seconds(1), deadline - ContinuousClock.now))
            beat()
        }
    }
}
