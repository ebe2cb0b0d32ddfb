import Logging
import ServiceLifecycle
import Synchronization

/// A one-way flag: raised once, never lowered.
public final class StopSignal: Sendable {
    private let flag = Atomic<Bool>(false)
    public init() {}
    public func raise() { flag.store(true, ordering: .sequentiallyConsistent) }
    public var isRaised: Bool { flag.load(ordering: .sequentiallyConsistent) }
}

/// Runs every sink's dispatcher. On graceful shutdown it stops taking new deliveries and gives
/// the in-flight ones `shutdownTimeout` to finish before cancelling them (they stay pending and
/// are retried after the restart).
public struct DeliveryService: Service {
    public let dispatchers: [Dispatcher]
    public let shutdownTimeout: Duration
    public let logger: Logger

    public init(dispatchers: [Dispatcher], shutdownTimeout: Duration, logger: Logger) {
        self.dispatchers = dispatchers
        self.shutdownTimeout = shutdownTimeout
        self.logger = logger
    }

    public func run() async throws {
        enum Finished { case dispatcher, deadline }
        let stop = StopSignal()
        await withTaskGroup(of: Finished.self) { group in
            for dispatcher in dispatchers {
                group.addTask {
                    await dispatcher.run(until: stop)
                    return .dispatcher
                }
            }
            group.addTask {
                try? await gracefulShutdown()
                stop.raise()
                for dispatcher in dispatchers { dispatcher.doorbell.ring() }
                try? await Task.sleep(for: shutdownTimeout)
                return .deadline
            }
            var running = dispatchers.count
            if running == 0 {
                // No sinks, or every sink disabled later: stay up until asked to stop, because a
                // service that returns early would bring the whole daemon down.
                try? await gracefulShutdown()
            }
            while running > 0, let finished = await group.next() {
                switch finished {
                case .dispatcher:
                    running -= 1
                    if running == 0, !stop.isRaised { try? await gracefulShutdown() }
                case .deadline:
                    logger.warning("deliveries still in flight at the shutdown deadline; they stay pending")
                    running = 0
                }
            }
            group.cancelAll()
        }
    }
}

extension DeliveryService: CustomStringConvertible, CustomDebugStringConvertible {
    /// Short, and free of configuration values: service-lifecycle logs services by description.
    public var description: String { "DeliveryService" }
    public var debugDescription: String { description }
}
