import Foundation
import Logging
import PlivoCompliance
import ServiceLifecycle

/// The poll loop: a full sync at start and every `settledInterval`, a hot scan every `interval`,
/// retries with backoff when a cycle fails. An API that misbehaves never ends the loop.
public struct Watcher: Service {
    public let poller: Poller
    public let poll: DaemonConfiguration.Poll
    public let backoff: Backoff
    public let doorbells: [Doorbell]
    public let status: StatusBoard
    public let logger: Logger

    public init(poller: Poller, poll: DaemonConfiguration.Poll, backoff: Backoff, doorbells: [Doorbell], status: StatusBoard, logger: Logger) {
        self.poller = poller
        self.poll = poll
        self.backoff = backoff
        self.doorbells = doorbells
        self.status = status
        self.logger = logger
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            await loop()
        }
    }

    public func loop() async {
        var nextFullSync = ContinuousClock.now
        var failures = 0
        while !Task.isCancelled {
            let full = ContinuousClock.now >= nextFullSync
            let wait: Duration
            do {
                let report = try await cycle(full: full)
                failures = 0
                if report.full { nextFullSync = ContinuousClock.now + jittered(poll.settledInterval) }
                wait = jittered(poll.interval)
            } catch {
                failures += 1
                // Full jitter may draw ~0; a floor keeps a permanently failing API (a revoked token)
                // from being asked in a tight loop.
                let floor = min(poll.interval, .seconds(1))
                wait = max(floor, min(backoff.delay(attempt: failures - 1, retryAfter: error.retryAfter), jittered(poll.interval)))
                try? poller.store.recordPollFailure(account: poller.account, error: error.description, at: Date())
                let level: Logger.Level = failures >= 3 ? .error : .warning
                logger.log(level: level, "poll cycle failed", metadata: [
                    "cw.error": "\(error.description)", "cw.failures": "\(failures)", "cw.retry_in": "\(wait)",
                ])
                let shortError = error.message.hasPrefix("state database")
                    ? "state database error"
                    : "API unreachable (\(error.status.map { "HTTP \($0)" } ?? error.kind.rawValue))"
                status.update {
                    $0.lastPollAt = Date()
                    $0.lastPollOK = false
                    $0.lastError = shortError
                    $0.retryIn = wait
                }
            }
            poller.heartbeat.beat()
            do {
                try await poller.heartbeat.sleep(for: wait)
            } catch {
                return  // cancelled: shutting down
            }
        }
    }

    /// One cycle, with its logging and status updates; used by `run` and by `once`.
    @discardableResult
    public func cycle(full: Bool) async throws(PlivoError) -> Poller.Report {
        let report = try await poller.runCycle(full: full, logger: logger)
        for event in report.events {
            logger.info("application changed", metadata: [
                "cw.event.id": "\(event.id)", "cw.event.type": "\(event.type)",
                "cw.application.id": "\(event.data.application.complianceApplicationId)",
                "cw.status.from": "\(event.fromStatus ?? "")", "cw.status.to": "\(event.toStatus)",
            ])
        }
        logger.debug("poll cycle done", metadata: [
            "cw.cycle": "\(report.full ? "full" : "hot")", "cw.observed": "\(report.observed)",
            "cw.requests": "\(report.requests)", "cw.events": "\(report.events.count)",
        ])
        if !report.events.isEmpty { doorbells.forEach { $0.ring() } }
        let summary = try? poller.store.summary()
        status.update {
            $0.lastPollAt = Date()
            $0.lastPollOK = true
            $0.lastError = nil
            $0.retryIn = nil
            $0.tracked = summary?.applicationsByStatus.reduce(0) { $0 + $1.count } ?? $0.tracked
            $0.pendingDeliveries = summary?.deliveries.filter { $0.state == "pending" }.reduce(0) { $0 + $1.count } ?? 0
        }
        return report
    }

    private func jittered(_ duration: Duration) -> Duration {
        let factor = 1 + Double.random(in: -poll.jitter...poll.jitter)
        return .milliseconds(Int64(Backoff.seconds(duration) * factor * 1000))
    }
}

extension Watcher: CustomStringConvertible, CustomDebugStringConvertible {
    /// Short, and free of configuration values: service-lifecycle logs services by description.
    public var description: String { "Watcher" }
    public var debugDescription: String { description }
}
