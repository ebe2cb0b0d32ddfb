import Foundation
import Logging

/// Delivers one sink's pending deliveries: concurrently across applications, strictly in order
/// within one, with capped exponential backoff and dead letters. Each sink has its own
/// dispatcher, so a slow or failing sink never holds up another.
public struct Dispatcher: Sendable {
    public struct Settings: Sendable {
        public var concurrency: Int
        public var maxAttempts: Int
        public var maxAge: Duration
        public var backoff: Backoff

        public init(concurrency: Int, maxAttempts: Int, maxAge: Duration, backoff: Backoff) {
            self.concurrency = concurrency
            self.maxAttempts = maxAttempts
            self.maxAge = maxAge
            self.backoff = backoff
        }
    }

    public let sink: any Sink
    public let store: StateStore
    public let settings: Settings
    public let doorbell: Doorbell
    public let logger: Logger
    /// Raised after a permanent failure (410 Gone): the sink takes no more work until restart.
    let disabled = StopSignal()
    /// Shared with the poller and the status line.
    public let sinkStates: SinkStates
    /// Longest sleep when nothing is due, so out-of-band changes (redeliver) are noticed.
    var idlePoll: Duration = .seconds(5)

    public init(
        sink: any Sink, store: StateStore, settings: Settings, doorbell: Doorbell, logger: Logger,
        sinkStates: SinkStates = SinkStates()
    ) {
        self.sinkStates = sinkStates
        self.sink = sink
        self.store = store
        self.settings = settings
        self.doorbell = doorbell
        self.logger = logger
    }

    /// Delivers until `stop` is raised (or the task is cancelled), then lets in-flight deliveries
    /// finish; the caller bounds how long that may take by cancelling.
    public func run(until stop: StopSignal) async {
        await withTaskGroup(of: String.self) { group in
            var inFlight: Set<String> = []
            while !Task.isCancelled, !stop.isRaised, !disabled.isRaised {
                let free = settings.concurrency - inFlight.count
                var started = 0
                if free > 0 {
                    for record in (try? store.dueDeliveries(sink: sink.name, now: Date(), limit: free, busy: inFlight)) ?? [] {
                        let key = record.account + "/" + record.applicationId
                        inFlight.insert(key)
                        started += 1
                        group.addTask { await self.attempt(record); return key }
                    }
                }
                if !inFlight.isEmpty, started == 0 || inFlight.count >= settings.concurrency {
                    if let done = await group.next() { inFlight.remove(done) }
                    continue
                }
                if started > 0 { continue }
                await doorbell.wait(timeout: sleepUntilNextDue())
            }
            for await done in group { inFlight.remove(done) }
        }
    }

    /// Delivers everything due now and returns when nothing pending is due (for `once`).
    public func drain() async {
        while !Task.isCancelled, !disabled.isRaised {
            let due = (try? store.dueDeliveries(sink: sink.name, now: Date(), limit: settings.concurrency)) ?? []
            if due.isEmpty { return }
            await withTaskGroup(of: Void.self) { group in
                for record in due { group.addTask { await self.attempt(record) } }
            }
        }
    }

    private func sleepUntilNextDue() -> Duration {
        guard let next = try? store.nextDueAt(sink: sink.name) else { return idlePoll }
        let seconds = max(0.005, min(next.timeIntervalSinceNow, Backoff.seconds(idlePoll)))
        return .milliseconds(Int64(seconds * 1000))
    }

    /// One attempt, and the bookkeeping for its result.
    func attempt(_ record: DeliveryRecord) async {
        var log = logger
        log[metadataKey: "cw.sink"] = "\(sink.name)"
        log[metadataKey: "cw.event.id"] = "\(record.event.id)"
        log[metadataKey: "cw.application.id"] = "\(record.applicationId)"
        log[metadataKey: "cw.attempt"] = "\(record.attempts + 1)"
        do {
            try await sink.deliver(record.event)
            do {
                try store.markDelivered(eventSeq: record.eventSeq, sink: sink.name, at: Date())
            } catch {
                // The row stays pending and the event goes out again later, with the same id.
                log.error("delivered, but cannot record it; it will be sent again", metadata: ["cw.error": "\(error)"])
            }
            log.info("event delivered", metadata: ["cw.event.type": "\(record.event.type)"])
        } catch {
            let attempts = record.attempts + 1
            let age = Date().timeIntervalSince(record.createdAt)
            switch error.disposition {
            case .retry where attempts < settings.maxAttempts && age < Backoff.seconds(settings.maxAge):
                let delay = settings.backoff.delay(attempt: record.attempts, retryAfter: error.retryAfter)
                let retryAt = Date().addingTimeInterval(Backoff.seconds(delay))
                try? store.markFailed(eventSeq: record.eventSeq, sink: sink.name, error: error.message, retryAt: retryAt)
                log.notice("delivery failed, will retry", metadata: ["cw.error": "\(error.message)", "cw.retry_in": "\(delay)"])
            case .disableSink:
                // First, so the next commit records no more deliveries for this sink.
                sinkStates.disable(sink.name, reason: error.message)
                disabled.raise()
                do {
                    try store.recordSinkDisabled(sink.name, reason: error.message, at: Date())
                } catch {
                    log.error("cannot record that the sink is disabled", metadata: ["cw.error": "\(error)"])
                }
                try? store.markFailed(eventSeq: record.eventSeq, sink: sink.name, error: error.message, retryAt: nil)
                let killed = (try? store.killPending(sink: sink.name, reason: "sink disabled: \(error.message)")) ?? 0
                log.error("sink disabled, pending deliveries dead-lettered", metadata: ["cw.error": "\(error.message)", "cw.dead": "\(killed + 1)"])
            default:
                try? store.markFailed(eventSeq: record.eventSeq, sink: sink.name, error: error.message, retryAt: nil)
                log.warning("delivery dead-lettered", metadata: ["cw.error": "\(error.message)"])
            }
        }
    }
}

extension Dispatcher: CustomStringConvertible, CustomDebugStringConvertible {
    /// Short, and free of configuration values: service-lifecycle logs services by description.
    public var description: String { "Dispatcher" }
    public var debugDescription: String { description }
}
