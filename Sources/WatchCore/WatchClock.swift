import Foundation

/// Time as the daemon's parts see it: the wall clock for what is stored and shown, a monotonic
/// reading for intervals and deadlines, and sleeping.
///
/// ``SystemClock`` in the daemon. Tests that want to move time by hand inject WatchTesting's
/// `ManualClock` into the token bucket, the heartbeat, the watcher, the poller and the
/// dispatcher, which take one each.
public protocol WatchClock: Sendable {
    /// Wall-clock time: stored timestamps, event times, due dates.
    var now: Date { get }
    /// Monotonic time since an arbitrary origin: intervals and deadlines. Never goes back.
    var uptime: Duration { get }
    /// Returns once ``uptime`` has grown by `duration`.
    /// - Throws: `CancellationError` when the task is cancelled first.
    func sleep(for duration: Duration) async throws
}

/// The real clocks: `Date()` and `ContinuousClock`.
public struct SystemClock: WatchClock {
    private static let origin = ContinuousClock.now

    /// The system clock.
    public init() {}

    /// `Date()`.
    public var now: Date { Date() }

    /// Time since this process first asked, by `ContinuousClock`.
    public var uptime: Duration { Self.origin.duration(to: .now) }

    /// `Task.sleep(for:)`.
    public func sleep(for duration: Duration) async throws {
        try await Task.sleep(for: duration)
    }
}
