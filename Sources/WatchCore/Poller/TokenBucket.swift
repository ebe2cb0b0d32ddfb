/// Spaces requests to at most `rate` per second, allowing short bursts of `burst`, and pauses
/// everyone after a 429. Reservations are first come, first served.
///
/// A token bucket alone lets `burst + rate × T` requests into a window of `T`: at Plivo's
/// ceiling of 60 per second with a burst of 16 that is 316 in 5 s, over the account's limit of
/// 300. So the bucket also keeps a log of its last `windowLimit` requests, and a request may
/// start only a `window` after the one `windowLimit` places before it *finished* (reported with
/// ``finished(_:)``): the server saw that one arrive no later than its answer came back, so the
/// two can never share a window, however long either waited in a queue on the way.
public actor TokenBucket {
    /// Plivo's limit per account: 300 requests in any 5 s.
    public static let plivoWindow = (limit: 300, window: Duration.seconds(5))
    /// Added to the window: a request reserved on time may reach the server after the next one.
    static let margin: Duration = .milliseconds(250)

    private let interval: Duration
    private let burstWindow: Duration
    private let windowLimit: Int
    private let window: Duration
    /// The last `windowLimit` requests, a ring buffer indexed by ticket: when each was allowed
    /// to start, and when it finished (`nil` while in flight).
    /// Times are the clock's ``WatchClock/uptime``.
    private var recent: [(slot: Duration, done: Duration?)] = []
    private var tickets = 0
    private var nextFree: Duration
    private var pausedUntil: Duration
    private let clock: any WatchClock

    /// - Parameters:
    ///   - rate: Requests per second.
    ///   - burst: Requests allowed back to back after an idle spell.
    ///   - windowLimit: At most this many requests in any `window`.
    ///   - clock: Tells the time and sleeps.
    public init(
        rate: Double,
        burst: Int = 1,
        windowLimit: Int = plivoWindow.limit,
        window: Duration = plivoWindow.window,
        clock: any WatchClock = SystemClock()
    ) {
        self.clock = clock
        // Nanoseconds, rounded up: 1000 / 60 truncated to 16 ms would send 62.5 a second.
        interval = .nanoseconds(Int64((1e9 / max(rate, 0.001)).rounded(.up)))
        burstWindow = interval * max(burst - 1, 0)
        self.windowLimit = max(windowLimit, 1)
        self.window = window + Self.margin
        nextFree = clock.uptime
        pausedUntil = clock.uptime
    }

    /// A request's place in the log, for ``finished(_:)``.
    public struct Ticket: Sendable {
        let number: Int
    }

    /// Waits for this caller's slot.
    @discardableResult
    public func acquire() async throws -> Ticket {
        let (slot, ticket) = reserve()
        let now = clock.uptime
        if slot > now { try await clock.sleep(for: slot - now) }
        return ticket
    }

    /// Records that the request with `ticket` has its answer (or failed).
    public func finished(_ ticket: Ticket) {
        let index = ticket.number % windowLimit
        // A ticket that has been overwritten is long finished; nothing to record.
        guard ticket.number > tickets - windowLimit, index < recent.count else { return }
        recent[index].done = clock.uptime
    }

    private func reserve() -> (Duration, Ticket) {
        let now = clock.uptime
        var slot = max(nextFree, now - burstWindow, pausedUntil)
        let index = tickets % windowLimit
        if recent.count < windowLimit {
            recent.append((slot, nil))
        } else {
            // The request `windowLimit` places back: after its answer if it has one, else after
            // it started (plus the margin).
            let oldest = recent[index]
            slot = max(slot, (oldest.done ?? oldest.slot) + window)
            recent[index] = (slot, nil)
        }
        tickets += 1
        nextFree = slot + interval
        return (slot, Ticket(number: tickets - 1))
    }

    /// Holds back every request not yet reserved for `duration` (the server said 429).
    public func pause(for duration: Duration) {
        pausedUntil = max(pausedUntil, clock.uptime + duration)
    }
}
