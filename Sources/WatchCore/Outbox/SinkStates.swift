import Foundation
import Synchronization

/// Which sinks a receiver has switched off (410 Gone), shared by the dispatchers that learn it,
/// the poller that stops recording deliveries for them, and the status line that shows it.
/// Cleared at restart.
public final class SinkStates: Sendable {
    /// Why and when a sink was disabled.
    public struct Disabled: Sendable, Equatable {
        public var reason: String
        public var at: Date
    }

    private let disabled = Mutex<[String: Disabled]>([:])

    public init() {}

    /// Records that `sink` takes no more events.
    public func disable(_ sink: String, reason: String, at: Date = Date()) {
        disabled.withLock { $0[sink] = Disabled(reason: reason, at: at) }
    }

    /// The disabled sinks, by name.
    public var all: [String: Disabled] { disabled.withLock { $0 } }

    /// The names of the disabled sinks.
    public var disabledNames: Set<String> { disabled.withLock { Set($0.keys) } }
}
