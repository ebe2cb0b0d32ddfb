import CurlHTTP
import Foundation
import Logging
import Synchronization

/// Delivers one sink's pending deliveries: concurrently across applications, strictly in order
/// within one (never past a dead letter), with capped exponential backoff and dead letters (never
/// for an audit trail). Each sink has its own dispatcher, so a slow or failing sink never holds
/// up another. While the receiver has disabled the sink (410 Gone) nothing is sent and nothing is
/// dropped: deliveries wait, pending, until a reload or restart.
public struct Dispatcher: Sendable {
    /// How hard to try.
    public struct Settings: Sendable {
        /// Deliveries in flight, each to a different application.
        public var concurrency: Int
        /// Attempts before a dead letter.
        public var maxAttempts: Int
        /// Age after which the next failure is a dead letter.
        public var maxAge: Duration
        /// The delay between attempts.
        public var backoff: Backoff

        /// Creates the settings.
        public init(concurrency: Int, maxAttempts: Int, maxAge: Duration, backoff: Backoff) {
            self.concurrency = concurrency
            self.maxAttempts = maxAttempts
            self.maxAge = maxAge
            self.backoff = backoff
        }
    }

    /// The sink delivered to.
    public let sink: any Sink
    /// Where delivery rows are read and updated.
    public let store: StateStore
    /// How hard to try.
    public let settings: Settings
    /// Rung by the poller after a commit, and on reload.
    public let doorbell: Doorbell
    /// Where attempts are logged.
    public let logger: Logger
    /// Shared with the poller and the status line.
    public let sinkStates: SinkStates
    /// Tells the time for due dates, ages and retry times.
    public let clock: any WatchClock
    /// Closed while this instance does not hold the lease: nothing is read as due or sent.
    public let gate: LeaseGate
    /// Longest sleep when nothing is due, so out-of-band changes (redeliver) are noticed.
    var idlePoll: Duration = .seconds(5)
    /// Deliveries the sink accepted that are not recorded yet: recorded together before the
    /// next look for due rows (group commit), so a burst costs one transaction per round, not
    /// one per event. A crash before that loses only the record: the events go out again, with
    /// their ids, as after any crash between sending and recording.
    private let accepted = AcceptedDeliveries()

    /// Creates a dispatcher.
    public init(
        sink: any Sink,
        store: StateStore,
        settings: Settings,
        doorbell: Doorbell,
        logger: Logger,
        sinkStates: SinkStates = SinkStates(),
        clock: any WatchClock = SystemClock(),
        gate: LeaseGate = .alwaysOpen()
    ) {
        self.gate = gate
        self.sinkStates = sinkStates
        self.clock = clock
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
            while !Task.isCancelled, !stop.isRaised {
                if sinkStates.isDisabled(sink.name) {
                    // Held: let what is in flight finish, then wait for a reload to ring.
                    if !inFlight.isEmpty, let done = await group.next() {
                        inFlight.remove(done)
                        continue
                    }
                    await doorbell.wait(timeout: idlePoll)
                    continue
                }
                let free = settings.concurrency - inFlight.count
                var started = 0
                if free > 0 {
                    for record in due(limit: free, busy: inFlight) {
                        let key = record.account + "/" + record.applicationId
                        inFlight.insert(key)
                        started += 1
                        group.addTask {
                            await self.attempt(record)
                            return key
                        }
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
        recordAccepted()
    }

    /// Delivers everything due now, trying each application at most once per failure, and
    /// returns (for `once`). Without that bound a failing receiver with a short backoff, or an
    /// audit file on a full disk (which never gives up), would keep `once` from ever exiting.
    public func drain() async {
        var failed: Set<String> = []
        while !Task.isCancelled, !sinkStates.isDisabled(sink.name) {
            let records = due(limit: settings.concurrency, busy: failed)
            if records.isEmpty { return }
            let outcomes = await withTaskGroup(of: (String, Bool).self) { group in
                for record in records {
                    group.addTask { (record.account + "/" + record.applicationId, await self.attempt(record)) }
                }
                return await group.reduce(into: []) { $0.append($1) }
            }
            for (key, delivered) in outcomes where !delivered { failed.insert(key) }
        }
        recordAccepted()
    }

    /// What is due now; a store failure is logged and treated as nothing due (tried again soon).
    /// Accepted deliveries are recorded first, so none of them is due again.
    private func due(limit: Int, busy: Set<String>) -> [DeliveryRecord] {
        recordAccepted()
        guard gate.isOpen else { return [] }
        do {
            return try store.dueDeliveries(sink: sink.name, now: clock.now, limit: limit, busy: busy)
        } catch {
            logger.error("cannot read due deliveries", metadata: ["cw.sink": "\(sink.name)", "cw.error": "\(error)"])
            return []
        }
    }

    /// Records the deliveries accepted since the last call, in one transaction.
    func recordAccepted() {
        let batch = accepted.take()
        guard !batch.isEmpty else { return }
        do {
            try store.markDelivered(batch, sink: sink.name)
        } catch {
            // The rows stay pending and the events go out again later, with the same ids.
            logger.error(
                "delivered, but cannot record it; it will be sent again",
                metadata: [
                    "cw.sink": "\(sink.name)", "cw.count": "\(batch.count)", "cw.error": "\(error)",
                ]
            )
        }
    }

    private func sleepUntilNextDue() -> Duration {
        let next: Date?
        do {
            next = try store.nextDueAt(sink: sink.name)
        } catch {
            logger.error(
                "cannot read the next due delivery",
                metadata: ["cw.sink": "\(sink.name)", "cw.error": "\(error)"]
            )
            return idlePoll
        }
        guard let next else { return idlePoll }
        let seconds = max(0.005, min(next.timeIntervalSince(clock.now), idlePoll.inSeconds))
        return .milliseconds(Int64(seconds * 1000))
    }

    /// One attempt, and the bookkeeping for its result.
    /// - Returns: Whether the event was delivered.
    @discardableResult
    func attempt(_ record: DeliveryRecord) async -> Bool {
        var log = logger
        log[metadataKey: "cw.sink"] = "\(sink.name)"
        log[metadataKey: "cw.event.id"] = "\(record.event.id)"
        log[metadataKey: "cw.application.id"] = "\(record.applicationId)"
        log[metadataKey: "cw.attempt"] = "\(record.attempts + 1)"
        // Checked again just before sending: the lease may have run out while this waited.
        guard gate.isOpen else { return false }
        do {
            try await sink.deliver(record.event)
            accepted.append(record.eventSeq, at: clock.now)
            log.info("event delivered", metadata: ["cw.event.type": "\(record.event.type)"])
            WatchMetrics.deliveryAttempt(
                sink: sink.name,
                .delivered,
                sinceDetection: clock.now.timeIntervalSince(record.createdAt)
            )
            return true
        } catch {
            let attempts = record.attempts + 1
            let age = clock.now.timeIntervalSince(record.createdAt)
            let exhausted = attempts >= settings.maxAttempts || age >= settings.maxAge.inSeconds
            switch error.disposition {
            case .disableSink:
                // First, so the next commit records new deliveries for this sink as held.
                sinkStates.disable(sink.name, reason: error.message)
                let held = sinkStates.heldReasons[sink.name] ?? error.message
                self.recordFailure(held, for: record, retryAt: clock.now, log: log)
                do {
                    try store.recordSinkDisabled(sink.name, reason: error.message, at: clock.now)
                    try store.holdPending(sink: sink.name, reason: held)
                } catch {
                    log.error("cannot record that the sink is disabled", metadata: ["cw.error": "\(error)"])
                }
                WatchMetrics.deliveryAttempt(sink: sink.name, .retry)
                log.error(
                    "the receiver disabled the sink; its deliveries are held until a reload or restart",
                    metadata: [
                        "cw.error": "\(error.message)"
                    ]
                )
            case .retry where !exhausted, _ where sink.isAuditTrail:
                // An audit trail never gives up: a hole in it would verify as a shorter chain.
                let delay = settings.backoff.delay(attempt: record.attempts, retryAfter: error.retryAfter)
                self.recordFailure(
                    error.message,
                    for: record,
                    retryAt: clock.now.addingTimeInterval(delay.inSeconds),
                    log: log
                )
                WatchMetrics.deliveryAttempt(sink: sink.name, .retry)
                // An audit trail that keeps failing (a full disk, a file that failed verification)
                // records nothing: an error, not a notice.
                log.log(
                    level: sink.isAuditTrail && attempts > 1 ? .error : .notice,
                    "delivery failed, will retry",
                    metadata: [
                        "cw.error": "\(error.message)", "cw.retry_in": "\(delay)",
                    ]
                )
            default:
                self.recordFailure(error.message, for: record, retryAt: nil, log: log)
                WatchMetrics.deliveryAttempt(sink: sink.name, .failed)
                log.warning(
                    "delivery dead-lettered; the application's later events wait until it is redelivered or skipped",
                    metadata: [
                        "cw.error": "\(error.message)"
                    ]
                )
            }
            return false
        }
    }

    /// Records a failed attempt, and says so when even that cannot be recorded.
    private func recordFailure(_ message: String, for record: DeliveryRecord, retryAt: Date?, log: Logger) {
        do {
            try store.markFailed(eventSeq: record.eventSeq, sink: sink.name, error: message, retryAt: retryAt)
        } catch {
            // The row stays as it was: pending, so the event is tried again; nothing is lost.
            log.error("cannot record a failed delivery", metadata: ["cw.error": "\(error)"])
        }
    }
}

extension Dispatcher: CustomStringConvertible, CustomDebugStringConvertible {
    /// Short, and free of configuration values: service-lifecycle logs services by description.
    public var description: String { "Dispatcher" }
    public var debugDescription: String { description }
}

/// Deliveries the sink accepted, waiting to be recorded.
final class AcceptedDeliveries: Sendable {
    private let pending = Synchronization.Mutex<[(eventSeq: Int64, at: Date)]>([])

    func append(_ eventSeq: Int64, at: Date) {
        pending.withLock { $0.append((eventSeq, at)) }
    }

    func take() -> [(eventSeq: Int64, at: Date)] {
        pending.withLock { pending in
            defer { pending.removeAll() }
            return pending
        }
    }
}
