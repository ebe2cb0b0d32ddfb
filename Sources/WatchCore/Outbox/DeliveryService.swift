import Logging
import ServiceLifecycle
import Synchronization

/// A one-way flag: raised once, never lowered.
public final class StopSignal: Sendable {
    private let flag = Atomic<Bool>(false)
    /// A lowered flag.
    public init() {}
    /// Raises the flag; it stays raised.
    public func raise() { flag.store(true, ordering: .sequentiallyConsistent) }
    /// Whether ``raise()`` was called.
    public var isRaised: Bool { flag.load(ordering: .sequentiallyConsistent) }
}

/// Runs every sink's dispatcher. On graceful shutdown it stops taking new deliveries and lets
/// the in-flight ones finish. How long they may take is the service group's
/// `maximumGracefulShutdownDuration` (`[delivery] shutdown_timeout`); after it the group cancels,
/// and what was in flight stays pending for the next start.
public struct DeliveryService: Service {
    /// One per sink.
    public let dispatchers: [Dispatcher]
    /// Where the shutdown is reported.
    public let logger: Logger

    /// Creates the service.
    public init(dispatchers: [Dispatcher], logger: Logger) {
        self.dispatchers = dispatchers
        self.logger = logger
    }

    /// Delivers until graceful shutdown (then drains in flight) or cancellation.
    public func run() async throws {
        let stop = StopSignal()
        let dispatchers = dispatchers
        await withGracefulShutdownHandler {
            await withTaskGroup(of: Void.self) { group in
                for dispatcher in dispatchers { group.addTask { await dispatcher.run(until: stop) } }
            }
        } onGracefulShutdown: {
            stop.raise()
            for dispatcher in dispatchers { dispatcher.doorbell.ring() }
        }
        if dispatchers.isEmpty, !Task.isCancelled {
            // No sinks: stay up until asked to stop; a service that returns early would bring
            // the whole daemon down.
            try await gracefulShutdown()
        }
        if Task.isCancelled, !dispatchers.isEmpty, stop.isRaised {
            logger.warning("deliveries still in flight at the shutdown deadline; they stay pending")
        }
    }
}

extension DeliveryService: CustomStringConvertible, CustomDebugStringConvertible {
    /// Short, and free of configuration values: service-lifecycle logs services by description.
    public var description: String { "DeliveryService" }
    public var debugDescription: String { description }
}
