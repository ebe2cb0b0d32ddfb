import Foundation
import Logging
import PlivoCompliance

/// Lists applications, confirms disappearances, and turns what it saw into one ``CycleOutcome``.
///
/// What it commits is only ever what Plivo positively said: a list that failed halfway is left
/// out whole (its applications are not checked for disappearance), a GET that kept failing
/// leaves its application as stored, and a deletion needs Plivo's own 404 on two consecutive
/// scans. So a network error never produces a false event, and one failing part never holds up
/// the rest.
public struct Poller: Sendable {
    /// How the poller talks to the API.
    public struct Settings: Sendable {
        /// Requests in flight at once (pages, confirming GETs).
        public var concurrency: Int
        /// Tries per request while the error is retryable.
        public var maxAttempts: Int
        /// The delay between tries.
        public var backoff: Backoff
        /// Whether the baseline announces what it finds as `created`.
        public var announceExisting: Bool

        /// Creates the settings.
        public init(concurrency: Int, maxAttempts: Int, backoff: Backoff, announceExisting: Bool) {
            self.concurrency = concurrency
            self.maxAttempts = maxAttempts
            self.backoff = backoff
            self.announceExisting = announceExisting
        }
    }

    /// What a cycle did, for logs and the systemd status line.
    public struct Report: Sendable {
        /// Whether it was a full sync.
        public var full: Bool
        /// Applications seen.
        public var observed: Int
        /// Events recorded, in order.
        public var events: [Event]
        /// API requests made, retries included.
        public var requests: Int
        /// Lists that failed in a hot scan (their applications were not checked for
        /// disappearance); empty when the cycle read everything it asked for.
        public var listFailures: [PlivoError] = []
        /// Applications whose confirming GET kept failing, with the reason.
        public var problems: [String: String] = [:]
        /// Applications skipped because their next event id was already taken.
        public var conflicts: [CommitResult.Conflict] = []

        /// Whether every list was read.
        public var complete: Bool { listFailures.isEmpty }
    }

    /// Where applications are read from: ``PlivoClient`` in the daemon.
    public let source: any ApplicationSource
    /// Where snapshots, events and deliveries are committed.
    public let store: StateStore
    /// Keeps requests under the account's rate and window limits.
    public let bucket: TokenBucket
    /// Concurrency, retries and the baseline's behaviour.
    public let settings: Settings
    /// The sinks and filters deliveries are recorded for.
    public let sinks: [SinkRoute]
    /// Beaten on every answer; its clock is the poll loop's.
    public let heartbeat: Heartbeat
    /// Sinks that refused all further events (410 Gone): new deliveries are recorded as held.
    public let sinkStates: SinkStates
    /// The account polled (the source's).
    public var account: String { source.account }

    /// How many consecutive scans must miss an application, each confirmed by Plivo's 404,
    /// before it is announced as deleted.
    public static let missesToDelete = 2

    /// Creates a poller.
    public init(
        source: any ApplicationSource, store: StateStore, bucket: TokenBucket, settings: Settings, sinks: [SinkRoute],
        heartbeat: Heartbeat = Heartbeat(), sinkStates: SinkStates = SinkStates()
    ) {
        self.source = source
        self.store = store
        self.bucket = bucket
        self.settings = settings
        self.sinks = sinks
        self.heartbeat = heartbeat
        self.sinkStates = sinkStates
    }

    /// What a direct GET of a missing application found.
    enum Confirmation: Sendable {
        case found(ComplianceApplication)
        /// Plivo's own 404.
        case notFound
        /// It kept failing; the stored snapshot stays as it is.
        case failed(PlivoError)
    }

    /// Runs one cycle: a full sync when `full` (or before the baseline exists), else a hot scan.
    ///
    /// A full sync is all or nothing. A hot scan lists each changeable status on its own: a
    /// status whose list keeps failing is left out (its applications are not checked for
    /// disappearance) and the rest is committed. One application whose GET keeps failing never
    /// holds up the others. The cycle throws only when nothing could be read.
    public func runCycle(full requestedFull: Bool, logger: Logger) async throws(CycleError) -> Report {
        do {
            return try await runCycleThrowingAny(full: requestedFull, logger: logger)
        } catch let error as CycleError {
            throw error
        } catch let error as PlivoError {
            throw error.kind == .cancelled || Task.isCancelled ? .cancelled : .api(error)
        } catch {
            throw .store(error)
        }
    }

    private func runCycleThrowingAny(full requestedFull: Bool, logger: Logger) async throws -> Report {
        let counter = RequestCounter()
        let stored = try store.snapshots(account: account)
        let state = try store.pollState(account: account)
        let full = requestedFull || !state.baselineDone

        var observed: [String: Snapshot] = [:]
        var listFailures: [PlivoError] = []
        let expected: Set<String>
        if full {
            for snapshot in try await listAll(filter: .init(), counter: counter) { observed[snapshot.applicationId] = snapshot }
            expected = Set(stored.keys)
        } else {
            let hot = Tracker.hotStatuses(stored: Set(stored.values.map(\.status)))
            var listed: [ApplicationStatus] = []
            for status in hot {
                do {
                    for snapshot in try await listAll(filter: .init(status: status), counter: counter) {
                        observed[snapshot.applicationId] = snapshot
                    }
                    listed.append(status)
                } catch {
                    if Task.isCancelled { throw error }
                    listFailures.append(error)
                }
            }
            if listed.isEmpty, let first = listFailures.first { throw first }
            // Suspects (missed once, or whose GET failed) are asked about again on every hot scan.
            expected = Set(stored.values.filter { listed.contains($0.status) || $0.missedScans > 0 || $0.problem != nil }
                .map(\.applicationId))
        }

        // Missing from a list it was expected in: ask directly. Offset paging shifts while data
        // changes, so absence alone proves nothing.
        let missing = expected.subtracting(observed.keys).sorted()
        if !missing.isEmpty {
            logger.debug("confirming applications missing from their lists", metadata: ["cw.count": "\(missing.count)"])
        }
        var deletions: [Snapshot] = []
        var misses: [String] = []
        var problems: [String: String] = [:]
        for (id, result) in try await confirm(missing, counter: counter) {
            switch result {
            case .found(let app): observed[id] = .observed(app, account: account, version: 0)
            case .notFound:
                guard let snapshot = stored[id] else { continue }
                if snapshot.missedScans + 1 >= Self.missesToDelete { deletions.append(snapshot) } else { misses.append(id) }
            case .failed(let error): problems[id] = error.description
            }
        }

        var observations: [CycleOutcome.Observation] = []
        for var snapshot in observed.values.sorted(by: { $0.applicationId < $1.applicationId }) {
            let previous = stored[snapshot.applicationId]
            snapshot.version = previous?.version ?? 0
            let change = Tracker.classify(
                previous: previous, observed: snapshot, baselineDone: state.baselineDone,
                announceExisting: settings.announceExisting)
            // Unchanged applications are only rewritten when something shown in events changed
            // (alias, …) or a suspicion about them is cleared.
            if change == .unchanged, let previous, previous.body == snapshot.body, previous.missedScans == 0,
               previous.problem == nil { continue }
            observations.append(.init(snapshot: snapshot, change: change))
        }

        let outcome = CycleOutcome(
            account: account, observations: observations, deletions: deletions, misses: misses, problems: problems,
            fullSync: full, complete: listFailures.isEmpty, at: heartbeat.clock.now)
        if Task.isCancelled { throw CycleError.cancelled }
        let result = try store.commitCycle(outcome, sinks: sinks, held: sinkStates.heldReasons)
        return Report(
            full: full, observed: observed.count, events: result.events, requests: counter.value,
            listFailures: listFailures, problems: problems, conflicts: result.conflicts)
    }

    /// Every application matching `filter`, as snapshots (version 0), through the client's
    /// ``PageSequence`` with each page fetched by ``call(_:_:)``. Each page becomes snapshots at
    /// once, so a 100,000-application sync never holds the decoded objects.
    func listAll(filter: PlivoClient.ApplicationFilter, counter: RequestCounter) async throws(PlivoError) -> [Snapshot] {
        let (source, account) = (source, account)
        let pages = PageSequence<ComplianceApplication> { (limit, offset) async throws(PlivoError) in
            try await call(counter) { () async throws(PlivoError) in
                try await source.listApplications(filter: filter, limit: limit, offset: offset)
            }
        }
        return try await pages.collectPages(concurrency: settings.concurrency) { page in
            page.objects.map { Snapshot.observed($0, account: account, version: 0) }
        }.flatMap { $0 }
    }

    /// GETs each id. A failure is the answer for that id alone, not for the cycle.
    func confirm(_ ids: [String], counter: RequestCounter) async throws(PlivoError) -> [(String, Confirmation)] {
        let source = source
        return try await Concurrently.map(ids, limit: settings.concurrency) { (id) async throws(PlivoError) -> (String, Confirmation) in
            do throws(PlivoError) {
                let app = try await call(counter) { () async throws(PlivoError) in try await source.application(id) }
                // An answer about another id is not an answer about this one.
                guard app.id == id else {
                    return (id, .failed(PlivoError(kind: .malformedResponse, message: "GET \(id) answered with application \(app.id)")))
                }
                return (id, .found(app))
            } catch {
                if error.isNotFound { return (id, .notFound) }
                if Task.isCancelled { throw error }
                return (id, .failed(error))
            }
        }
    }

    /// One API call through the token bucket, retried with backoff while the error is retryable.
    func call<T: Sendable>(_ counter: RequestCounter, _ body: () async throws(PlivoError) -> T) async throws(PlivoError) -> T {
        var attempt = 0
        while true {
            let ticket: TokenBucket.Ticket
            do {
                ticket = try await bucket.acquire()
            } catch {
                throw PlivoError.cancelled()
            }
            counter.increment()
            heartbeat.beat()
            do {
                defer { heartbeat.beat() }
                let result = try await body()
                await bucket.finished(ticket)
                WatchMetrics.apiRequest(account: account, .ok)
                return result
            } catch {
                await bucket.finished(ticket)
                WatchMetrics.apiRequest(account: account, .init(error))
                guard error.isRetryable, attempt + 1 < settings.maxAttempts, !Task.isCancelled else { throw error }
                let delay = settings.backoff.delay(attempt: attempt, retryAfter: error.retryAfter)
                if error.status == 429 { await bucket.pause(for: max(delay, error.retryAfter ?? .zero)) }
                do {
                    try await heartbeat.sleep(for: delay)
                } catch {
                    throw PlivoError.cancelled()
                }
                attempt += 1
            }
        }
    }
}

/// Counts API requests in a cycle (for reports and benchmarks).
final class RequestCounter: Sendable {
    private let count = Synchronization.Mutex(0)
    func increment() { count.withLock { $0 += 1 } }
    var value: Int { count.withLock { $0 } }
}

import Synchronization

extension Poller: CustomStringConvertible, CustomDebugStringConvertible {
    /// Short, and free of configuration values: service-lifecycle logs services by description.
    public var description: String { "Poller" }
    public var debugDescription: String { description }
}
