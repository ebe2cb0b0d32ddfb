/// Spaces requests to at most `rate` per second, allowing short bursts of `burst`, and pauses
/// everyone after a 429. Reservations are first come, first served.
public actor TokenBucket {
    private let interval: Duration
    private let burstWindow: Duration
    private var nextFree: ContinuousClock.Instant
    private var pausedUntil: ContinuousClock.Instant
    private let clock = ContinuousClock()

    /// - Parameters:
    ///   - rate: Requests per second.
    ///   - burst: Requests allowed back to back after an idle spell.
    public init(rate: Double, burst: Int = 1) {
        interval = .milliseconds(Int64(1000 / max(rate, 0.001)))
        burstWindow = interval * max(burst - 1, 0)
        nextFree = clock.now
        pausedUntil = clock.now
    }

    /// Waits for this caller's slot.
    public func acquire() async throws {
        let slot = reserve()
        if slot > clock.now { try await clock.sleep(until: slot) }
    }

    private func reserve() -> ContinuousClock.Instant {
        let now = clock.now
        let slot = max(nextFree, now - burstWindow, pausedUntil)
        nextFree = slot + interval
        return slot
    }

    /// Holds back every request not yet reserved for `duration` (the server said 429).
    public func pause(for duration: Duration) {
        pausedUntil = max(pausedUntil, clock.now + duration)
    }
}
