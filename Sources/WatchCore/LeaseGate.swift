import Synchronization

/// Whether this instance may act (poll, record, deliver) right now.
///
/// With one instance (SQLite) it is always open. Under a PostgreSQL lease it is open until the
/// lease would run out by this process's own monotonic clock, counted from when the renewal
/// that granted it was *sent*, so it closes no later than the database's lease does. That clock
/// keeps running while the process is stopped: a leader resumed after SIGSTOP finds its gate
/// closed before it sends anything, even if it has not yet heard that it lost the lease.
public final class LeaseGate: Sendable {
    private let until: Mutex<ContinuousClock.Instant?>
    private let always: Bool

    /// A gate that is always open (one instance).
    public static func alwaysOpen() -> LeaseGate { LeaseGate(always: true) }

    /// A gate that is closed until ``open(until:)``.
    public static func closed() -> LeaseGate { LeaseGate(always: false) }

    private init(always: Bool) {
        self.always = always
        until = Mutex(nil)
    }

    /// Whether acting is allowed now.
    public var isOpen: Bool {
        if always { return true }
        let now = ContinuousClock.now
        return until.withLock { $0.map { now < $0 } ?? false }
    }

    /// Allows acting until `deadline`.
    public func open(until deadline: ContinuousClock.Instant) {
        until.withLock { $0 = deadline }
    }

    /// Stops acting now.
    public func close() {
        until.withLock { $0 = nil }
    }
}
