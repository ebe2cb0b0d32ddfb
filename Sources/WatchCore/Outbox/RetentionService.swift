import CurlHTTP
import Foundation
import Logging
import ServiceLifecycle

/// Prunes old delivered rows (and, if configured, old events) once shortly after start and then
/// every hour, so a years-old state database stays small. See ``StateStore/prune(deliveredBefore:eventsBefore:)``.
public struct RetentionService: Service {
    /// Where to prune.
    public let store: StateStore
    /// `[state]`'s retention settings.
    public let state: DaemonConfiguration.State
    /// Tells the time and sleeps.
    public let clock: any WatchClock
    /// Where pruning is reported.
    public let logger: Logger
    /// Between prunings.
    public var every: Duration = .seconds(3600)

    /// Creates the service.
    public init(
        store: StateStore,
        state: DaemonConfiguration.State,
        clock: any WatchClock = SystemClock(),
        logger: Logger
    ) {
        self.store = store
        self.state = state
        self.clock = clock
        self.logger = logger
    }

    /// Prunes until graceful shutdown.
    public func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    try await clock.sleep(for: .seconds(60))
                } catch {
                    return
                }
                pruneNow()
                do {
                    try await clock.sleep(for: every - .seconds(60))
                } catch {
                    return
                }
            }
        }
    }

    /// One pruning; a failure is logged and tried again at the next one.
    @discardableResult
    public func pruneNow() -> StateStore.Pruned? {
        let now = clock.now
        do {
            let pruned = try store.prune(
                deliveredBefore: now.addingTimeInterval(-state.deliveryRetention.inSeconds),
                eventsBefore: state.eventRetention.map { now.addingTimeInterval(-$0.inSeconds) }
            )
            if pruned.deliveries > 0 || pruned.events > 0 {
                logger.info(
                    "pruned old rows from the state database",
                    metadata: [
                        "cw.deliveries": "\(pruned.deliveries)", "cw.events": "\(pruned.events)",
                    ]
                )
            }
            return pruned
        } catch {
            logger.error("cannot prune the state database", metadata: ["cw.error": "\(error)"])
            return nil
        }
    }
}

extension RetentionService: CustomStringConvertible, CustomDebugStringConvertible {
    /// Short: service-lifecycle logs services by description.
    public var description: String { "RetentionService" }
    public var debugDescription: String { description }
}
