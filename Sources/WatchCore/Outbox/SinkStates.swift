import Foundation
import Synchronization

/// Which sinks a receiver has switched off (410 Gone), shared by the dispatchers that learn it
/// and hold the sink's deliveries, the poller that records new ones as held, and the status line
/// that shows it. Cleared by a reload (SIGHUP) or a restart.
public final class SinkStates: Sendable {
    /// Why and when a sink was disabled.
    public struct Disabled: Sendable, Equatable {
        /// Why the receiver refused.
        public var reason: String
        /// When.
        public var at: Date
    }

    private let disabled = Mutex<[String: Disabled]>([:])

    /// Every sink enabled.
    public init() {}

    /// Records that `sink` takes no more events.
    public func disable(_ sink: String, reason: String, at: Date = Date()) {
        disabled.withLock { $0[sink] = Disabled(reason: reason, at: at) }
    }

    /// The disabled sinks, by name.
    public var all: [String: Disabled] { disabled.withLock { $0 } }

    /// Whether `sink` is disabled.
    public func isDisabled(_ sink: String) -> Bool { disabled.withLock { $0[sink] != nil } }

    /// Enables every sink again.
    /// - Returns: The sinks that were disabled.
    @discardableResult
    public func enableAll() -> [String] {
        disabled.withLock { all in
            defer { all.removeAll() }
            return all.keys.sorted()
        }
    }

    /// Why each disabled sink's deliveries are held, as recorded on them.
    public var heldReasons: [String: String] {
        disabled.withLock { $0.mapValues { "held: sink disabled (\($0.reason)) at \(EventTime.format($0.at))" } }
    }
}
