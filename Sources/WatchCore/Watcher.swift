import CurlHTTP
import Foundation
import Logging
import PlivoCompliance
import ServiceLifecycle

/// The poll loop: a full sync at start and every `settledInterval`, a hot scan every `interval`,
/// retries with backoff when a cycle fails. An API that misbehaves never ends the loop.
public struct Watcher: Service {
    /// Runs each cycle.
    public let poller: Poller
    /// Intervals and jitter.
    public let poll: DaemonConfiguration.Poll
    /// The delay after failed cycles.
    public let backoff: Backoff
    /// Rung when a cycle recorded events, so dispatchers wake at once.
    public let doorbells: [Doorbell]
    /// Where the cycle's outcome is shown.
    public let status: StatusBoard
    /// The daemon's logger, with the account's name as metadata.
    public let logger: Logger
    /// The account's name: its key in ``WatchStatus/polls``.
    public let name: String
    /// Closed while this instance does not hold the lease: no cycle starts.
    public let gate: LeaseGate
    /// When this watcher was made: the reference for "no complete poll yet".
    let startedAt: Date
    /// The poll loop's clock (the heartbeat's).
    var clock: any WatchClock { poller.heartbeat.clock }

    /// Creates the loop.
    public init(
        poller: Poller,
        poll: DaemonConfiguration.Poll,
        backoff: Backoff,
        doorbells: [Doorbell],
        status: StatusBoard,
        logger: Logger,
        name: String? = nil,
        gate: LeaseGate = .alwaysOpen()
    ) {
        self.gate = gate
        self.name = name ?? poller.account
        var logger = logger
        if name != nil { logger[metadataKey: "cw.account"] = "\(self.name)" }
        self.poller = poller
        self.poll = poll
        self.backoff = backoff
        self.doorbells = doorbells
        self.status = status
        self.logger = logger
        startedAt = poller.heartbeat.clock.now
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            await loop()
        }
    }

    /// Polls until the task is cancelled: full syncs on their schedule, hot scans in between, backoff after failures.
    public func loop() async {
        var nextFullSync = clock.uptime
        var failures = 0
        var fullFailures = 0
        while !Task.isCancelled {
            guard gate.isOpen else {
                // Not leading (any more): the lease service cancels this loop soon; poll nothing meanwhile.
                do { try await poller.heartbeat.sleep(for: min(poll.interval, .seconds(1))) } catch { return }
                continue
            }
            let full = clock.uptime >= nextFullSync
            var wait: Duration
            do {
                let report = try await cycle(full: full)
                if report.full {
                    fullFailures = 0
                    nextFullSync = clock.uptime + jittered(poll.settledInterval)
                }
                if report.complete {
                    failures = 0
                    wait = jittered(poll.interval)
                } else {
                    failures += 1
                    wait = retryWait(failures: failures, retryAfter: report.listFailures.compactMap(\.retryAfter).max())
                }
            } catch .cancelled {
                return  // shutting down
            } catch {
                failures += 1
                wait = retryWait(failures: failures, retryAfter: error.retryAfter)
                if full, case .api = error,
                    storeRead("poll state", { try poller.store.pollState(account: poller.account) })?.baselineDone
                        == true
                {
                    // A failed full sync is retried with its own backoff; hot scans go on meanwhile.
                    fullFailures += 1
                    nextFullSync = clock.uptime + max(poll.interval, backoff.delay(attempt: fullFailures - 1))
                    wait = min(wait, jittered(poll.interval))
                }
                do {
                    try poller.store.recordPollFailure(account: poller.account, error: error.description, at: clock.now)
                } catch {
                    logger.error(
                        "cannot record a failed poll in the state database",
                        metadata: ["cw.error": "\(error)"]
                    )
                }
                let level: Logger.Level = failures >= 3 ? .error : .warning
                logger.log(
                    level: level,
                    "poll cycle failed",
                    metadata: [
                        "cw.error": "\(error.description)", "cw.failures": "\(failures)", "cw.retry_in": "\(wait)",
                        "cw.cycle": "\(full ? "full" : "hot")",
                    ]
                )
                updatePoll {
                    $0.lastPollAt = clock.now
                    $0.lastPollOK = false
                    $0.lastError = error.short
                    $0.retryIn = wait
                }
            }
            checkStall()
            poller.heartbeat.beat()
            do {
                try await poller.heartbeat.sleep(for: wait)
            } catch {
                return  // cancelled: shutting down
            }
        }
    }

    /// The wait after a failed or partial cycle. Full jitter may draw ~0; a floor keeps a
    /// permanently failing API (a revoked token) from being asked in a tight loop.
    private func retryWait(failures: Int, retryAfter: Duration?) -> Duration {
        let floor = min(poll.interval, .seconds(1))
        return max(floor, min(backoff.delay(attempt: failures - 1, retryAfter: retryAfter), jittered(poll.interval)))
    }

    /// How long the poll may go without a complete cycle, or an application without an answer,
    /// before the daemon says it is stalled (``DaemonConfiguration/Poll/stallAfter``).
    public var stallAfter: Duration { poll.stallAfter }

    /// Says loudly (warning log, status line) when no cycle has completed for ``stallAfter``, or
    /// an application's confirmation has kept failing that long; clears it when that ends.
    func checkStall() {
        let now = clock.now
        let limit = stallAfter.inSeconds
        var reasons: [String] = []
        if let state = storeRead("poll state", { try poller.store.pollState(account: poller.account) }),
            case let since = state.lastSuccessAt ?? startedAt,
            now.timeIntervalSince(since) > limit
        {
            reasons.append("no complete poll since \(EventTime.format(since)): \(state.lastError ?? "no answer yet")")
        }
        if let problems = storeRead("unconfirmed applications", { try poller.store.problems() }) {
            let stuck = problems.filter { $0.account == poller.account && now.timeIntervalSince($0.since) > limit }
            if let first = stuck.first {
                reasons.append(
                    "\(stuck.count) application\(stuck.count == 1 ? "" : "s") unconfirmed since \(EventTime.format(first.since)) (\(first.applicationId): \(first.problem))"
                )
            }
        }
        let text = reasons.isEmpty ? nil : "stalled: " + reasons.joined(separator: "; ")
        let previous = status.current.polls[name]?.stalled
        // Once when it starts, not every cycle; the status line keeps the current reason.
        if let text, previous == nil { logger.warning("polling is stalled", metadata: ["cw.reason": "\(text)"]) }
        if text == nil, previous != nil { logger.notice("polling recovered") }
        updatePoll { $0.stalled = text }
    }

    /// One cycle, with its logging and status updates; used by `run` and by `once`.
    @discardableResult
    public func cycle(full: Bool) async throws(CycleError) -> Poller.Report {
        let started = clock.uptime
        let report: Poller.Report
        do {
            report = try await poller.runCycle(full: full, logger: logger)
        } catch {
            WatchMetrics.pollCycle(account: poller.account, full: full, ok: false, duration: clock.uptime - started)
            throw error
        }
        WatchMetrics.pollCycle(
            account: poller.account,
            full: report.full,
            ok: report.complete,
            duration: clock.uptime - started
        )
        if report.complete { WatchMetrics.lastSuccessfulPoll(account: poller.account, at: clock.now) }
        WatchMetrics.events(report.events)
        for event in report.events {
            logger.info(
                "application changed",
                metadata: [
                    "cw.event.id": "\(event.id)", "cw.event.type": "\(event.type)",
                    "cw.application.id": "\(event.data.application.complianceApplicationId)",
                    "cw.status.from": "\(event.fromStatus ?? "")", "cw.status.to": "\(event.toStatus)",
                ]
            )
        }
        for conflict in report.conflicts {
            logger.error(
                "event id conflict: application skipped this cycle (a bug; please report it)",
                metadata: [
                    "cw.application.id": "\(conflict.applicationId)", "cw.event.id": "\(conflict.eventId)",
                    "cw.stored": "\(conflict.existing)", "cw.refused": "\(conflict.refused)",
                ]
            )
        }
        if let (id, problem) = report.problems.min(by: { $0.key < $1.key }) {
            // One line per cycle, however many: a proxy in the way fails them all alike.
            logger.warning(
                "cannot confirm applications missing from their lists; kept as they were",
                metadata: [
                    "cw.count": "\(report.problems.count)", "cw.application.id": "\(id)", "cw.error": "\(problem)",
                ]
            )
        }
        for failure in report.listFailures {
            logger.warning(
                "a list failed; the rest of the scan was committed",
                metadata: ["cw.error": "\(failure.description)"]
            )
        }
        if !report.complete, let first = report.listFailures.first {
            do {
                try poller.store.recordPollFailure(account: poller.account, error: first.description, at: clock.now)
            } catch {
                logger.error("cannot record a failed poll in the state database", metadata: ["cw.error": "\(error)"])
            }
        }
        logger.debug(
            "poll cycle done",
            metadata: [
                "cw.cycle": "\(report.full ? "full" : "hot")", "cw.observed": "\(report.observed)",
                "cw.requests": "\(report.requests)", "cw.events": "\(report.events.count)",
            ]
        )
        if !report.events.isEmpty { doorbells.forEach { $0.ring() } }
        // Applications are counted again only when their number may have changed.
        let recount =
            report.full || status.current.polls[name]?.lastPollAt == nil
            || report.events.contains { $0.type == .created || $0.type == .deleted }
        let summary = storeRead("status summary", { try poller.store.summary(light: !recount) })
        status.update {
            $0.polls[name, default: PollStatus()].lastPollAt = clock.now
            $0.polls[name]!.lastPollOK = report.complete
            $0.polls[name]!.lastError = report.listFailures.first.map {
                "list failed (\($0.status.map { "HTTP \($0)" } ?? $0.kind.rawValue))"
            }
            $0.polls[name]!.retryIn = nil
            if recount, let summary { $0.tracked = summary.applicationsByStatus.reduce(0) { $0 + $1.count } }
            $0.pendingDeliveries = summary?.deliveries.filter { $0.state == .pending }.reduce(0) { $0 + $1.count } ?? 0
            $0.disabledSinks = poller.sinkStates.all.mapValues { "\($0.reason) at \(EventTime.format($0.at))" }
            if let summary { $0.sinkNotes = Self.sinkNotes(summary, disabled: Set($0.disabledSinks.keys)) }
        }
        return report
    }

    /// "sink audit retrying (No space left on device)", "sink hook: 2 applications blocked by
    /// dead letters": short, for the status line.
    static func sinkNotes(_ summary: StatusSummary, disabled: Set<String>) -> [String] {
        var notes: [String] = []
        for health in summary.health where !disabled.contains(health.sink) {
            let error = health.lastError.map { $0.count > 80 ? $0.prefix(80) + "…" : $0 } ?? "failing"
            notes.append("sink \(health.sink) retrying (\(error))")
        }
        for (sink, blocked) in Dictionary(grouping: summary.blocked, by: \.sink).sorted(by: { $0.key < $1.key }) {
            notes.append(
                "sink \(sink): \(blocked.count) application\(blocked.count == 1 ? "" : "s") blocked by dead letters"
            )
        }
        return notes
    }

    /// Changes this account's part of the status board.
    private func updatePoll(_ change: (inout PollStatus) -> Void) {
        status.update { change(&$0.polls[name, default: PollStatus()]) }
    }

    /// A read for logs and the status line: a failure is logged (the store is failing, which the
    /// next cycle also reports) and the caller goes on without the value.
    private func storeRead<T>(_ what: String, _ read: () throws -> T) -> T? {
        do {
            return try read()
        } catch {
            logger.error("cannot read \(what) from the state database", metadata: ["cw.error": "\(error)"])
            return nil
        }
    }

    private func jittered(_ duration: Duration) -> Duration {
        let factor = 1 + Double.random(in: -poll.jitter...poll.jitter)
        return .milliseconds(Int64(duration.inSeconds * factor * 1000))
    }
}

extension Watcher: CustomStringConvertible, CustomDebugStringConvertible {
    /// Short, and free of configuration values: service-lifecycle logs services by description.
    public var description: String { "Watcher" }
    public var debugDescription: String { description }
}
