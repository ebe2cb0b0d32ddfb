import CurlHTTP

/// Capped exponential backoff with full jitter: a uniformly random delay in
/// `0 … min(cap, base × 2^attempt)`, so retrying clients spread out instead of pulsing.
public struct Backoff: Sendable {
    /// The first delay's ceiling.
    public var base: Duration
    /// No delay exceeds this (a server's `Retry-After` aside).
    public var cap: Duration

    /// Creates a policy.
    public init(base: Duration, cap: Duration) {
        self.base = base
        self.cap = cap
    }

    /// The ceiling for retry number `attempt` (0-based).
    public func ceiling(attempt: Int) -> Duration {
        let factor = Double(1 << min(attempt, 30))
        let seconds = min(cap.inSeconds, base.inSeconds * factor)
        return .milliseconds(Int64(seconds * 1000))
    }

    /// A jittered delay; never shorter than `retryAfter` when the server asked for one.
    public func delay(attempt: Int, retryAfter: Duration? = nil, random: Double = Double.random(in: 0...1)) -> Duration
    {
        let jittered = ceiling(attempt: attempt).inSeconds * min(max(random, 0), 1)
        let delay = Duration.milliseconds(Int64(jittered * 1000))
        guard let retryAfter else { return delay }
        return max(delay, retryAfter)
    }
}
