import Crypto
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
        source: any ApplicationSource,
        store: StateStore,
        bucket: TokenBucket,
        settings: Settings,
        sinks: [SinkRoute],
        heartbeat: Heartbeat = Heartbeat(),
        sinkStates: SinkStates = SinkStates()
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

    /// An application as listed, with the hash of what events would show of it.
    struct Listed: Sendable, TrackedFields {
        var application: ComplianceApplication
        var contentHash: Data
        var status: ApplicationStatus { application.status }
        var rejectionReason: String? { application.rejectionReason }
        var documentIds: [String] { application.documents.map(\.documentId).sorted() }

        init(_ application: ComplianceApplication) {
            self.application = application
            contentHash = EventApplication(application).contentHash
        }
    }

    private func runCycleThrowingAny(full requestedFull: Bool, logger: Logger) async throws -> Report {
        let counter = RequestCounter()
        let state = try store.pollState(account: account)
        let full = requestedFull || !state.baselineDone

        var scan =
            full
            ? try await fullScan(baselineDone: state.baselineDone, counter: counter)
            : try await hotScan(counter: counter)

        // Missing from a list it was expected in: ask directly. Offset paging shifts while data
        // changes, so absence alone proves nothing.
        let missing = scan.missing.sorted()
        if !missing.isEmpty {
            logger.debug("confirming applications missing from their lists", metadata: ["cw.count": "\(missing.count)"])
            scan.stored.merge(
                try store.trackedApplications(account: account, ids: missing.filter { scan.stored[$0] == nil })
            ) { a, _ in a }
        }
        var deletions: [String] = []
        var misses: [String] = []
        var problems: [String: String] = [:]
        var found: [Listed] = []
        for (id, result) in try await confirm(missing, counter: counter) {
            switch result {
            case .found(let app): found.append(Listed(app))
            case .notFound:
                guard let stored = scan.stored[id] else { continue }
                if stored.missedScans + 1 >= Self.missesToDelete { deletions.append(id) } else { misses.append(id) }
            case .failed(let error): problems[id] = error.description
            }
        }
        scan.observations += observations(found, stored: scan.stored, baselineDone: state.baselineDone)
        scan.observations.sort { $0.snapshot.applicationId < $1.snapshot.applicationId }

        let outcome = CycleOutcome(
            account: account,
            observations: scan.observations,
            deletions: deletions,
            misses: misses,
            problems: problems,
            fullSync: full,
            complete: scan.listFailures.isEmpty,
            at: heartbeat.clock.now
        )
        if Task.isCancelled { throw CycleError.cancelled }
        let result = try store.commitCycle(outcome, sinks: sinks, held: sinkStates.heldReasons)
        return Report(
            full: full,
            observed: scan.seenCount + found.count,
            events: scan.events + result.events,
            requests: counter.value,
            listFailures: scan.listFailures,
            problems: problems,
            conflicts: scan.conflicts + result.conflicts
        )
    }

    /// What a scan saw and decided before the cycle's commit.
    struct Scan {
        /// How many applications were listed.
        var seenCount = 0
        /// Stored ids the scan's lists should have shown and did not.
        var missing: Set<String> = []
        /// What is stored of the applications compared (and of those expected).
        var stored: [String: TrackedApplication] = [:]
        /// Changes to commit.
        var observations: [CycleOutcome.Observation] = []
        var listFailures: [PlivoError] = []
        /// Recorded already: a first sync commits page by page.
        var events: [Event] = []
        var conflicts: [CommitResult.Conflict] = []
    }

    /// Lists each changeable status on its own, and compares what it finds with the stored
    /// applications it expects, read without their bodies from the store's watch index.
    func hotScan(counter: RequestCounter) async throws -> Scan {
        var scan = Scan()
        let watched = try store.watchedApplications(account: account)
        let hot = Tracker.hotStatuses(stored: Set(watched.values.map(\.status)))
        var listed: [ApplicationStatus] = []
        var observed: [String: Listed] = [:]
        for status in hot {
            do {
                for page in try await listPages(
                    filter: .init(status: status),
                    counter: counter,
                    { $0.objects.map(Listed.init) }
                ) {
                    for app in page { observed[app.application.id] = app }
                }
                listed.append(status)
            } catch {
                if Task.isCancelled { throw error }
                scan.listFailures.append(error)
            }
        }
        if listed.isEmpty, let first = scan.listFailures.first { throw first }
        // Listed but not watched: an accepted application moved back, or a new one.
        scan.stored = watched.merging(
            try store.trackedApplications(account: account, ids: observed.keys.filter { watched[$0] == nil })
        ) { a, _ in a }
        scan.seenCount = observed.count
        // Suspects (missed once, or whose GET failed) are asked about again on every hot scan.
        scan.missing = Set(
            watched.values.filter { listed.contains($0.status) || $0.missedScans > 0 || $0.problem != nil }.map(
                \.applicationId
            )
        )
        .subtracting(observed.keys)
        scan.observations = observations(Array(observed.values), stored: scan.stored, baselineDone: true)
        return scan
    }

    /// Lists everything, comparing each page with the stored rows of its ids as it arrives, so
    /// only changes and the set of ids seen are held. Before the baseline exists each page is
    /// committed at once: a silent baseline loses nothing by committing early, and a first sync
    /// of 100,000 applications never holds them all.
    func fullScan(baselineDone: Bool, counter: RequestCounter) async throws -> Scan {
        let (store, account, sinks, held) = (store, account, sinks, sinkStates.heldReasons)
        // 16 bytes per id seen, not a String: a sync of 100,000 applications holds 2 MiB of
        // these instead of 8 MiB of strings (see SeenIds).
        let seen = Synchronization.Mutex(SeenIds())
        let pages = try await listPages(filter: .init(), counter: counter) { (page) -> Result<Scan, any Error> in
            Result {
                // An id on two pages (paging drift) is compared once.
                let fresh = seen.withLock { seen in page.objects.filter { seen.insert($0.id) } }.map(Listed.init)
                var part = Scan()
                let stored = try store.trackedApplications(account: account, ids: fresh.map(\.application.id))
                let observations = observations(fresh, stored: stored, baselineDone: baselineDone)
                if baselineDone {
                    part.observations = observations
                    part.stored = stored
                } else if !observations.isEmpty {
                    let result = try store.commitCycle(
                        CycleOutcome(
                            account: account,
                            observations: observations,
                            deletions: [],
                            fullSync: true,
                            complete: false,
                            at: heartbeat.clock.now
                        ),
                        sinks: sinks,
                        held: held
                    )
                    (part.events, part.conflicts) = (result.events, result.conflicts)
                }
                return part
            }
        }
        var scan = Scan()
        for page in pages {
            let part = try page.get()
            scan.observations += part.observations
            scan.stored.merge(part.stored) { a, _ in a }
            scan.events += part.events
            scan.conflicts += part.conflicts
        }
        let ids = seen.withLock { $0 }
        scan.seenCount = ids.count
        scan.missing = try store.liveApplicationIds(account: account) { !ids.contains($0) }
        return scan
    }

    /// The observations worth committing: changes, and unchanged applications whose shown
    /// fields changed (alias, …) or whose suspicion is cleared. The rest costs one hash compare.
    func observations(
        _ listed: [Listed],
        stored: [String: TrackedApplication],
        baselineDone: Bool
    ) -> [CycleOutcome.Observation] {
        listed.compactMap { app in
            let previous = stored[app.application.id]
            // The same hash is the same status, reason and documents: unchanged, at one compare.
            if let previous, previous.contentHash == app.contentHash, previous.missedScans == 0, previous.problem == nil
            {
                return nil
            }
            let change = Tracker.classify(
                previous: previous,
                observed: app,
                baselineDone: baselineDone,
                announceExisting: settings.announceExisting
            )
            return .init(
                snapshot: .observed(app.application, account: account, version: previous?.version ?? 0),
                change: change
            )
        }
    }

    /// Every page of applications matching `filter`, each turned into a value by `transform` as
    /// it arrives, through the client's ``PageSequence`` with each page fetched by ``call(_:_:)``.
    func listPages<T: Sendable>(
        filter: PlivoClient.ApplicationFilter,
        counter: RequestCounter,
        _ transform: @escaping @Sendable (Page<ComplianceApplication>) -> T
    ) async throws(PlivoError) -> [T] {
        let source = source
        let pages = PageSequence<ComplianceApplication> { (limit, offset) async throws(PlivoError) in
            try await call(counter) { () async throws(PlivoError) in
                try await source.listApplications(filter: filter, limit: limit, offset: offset)
            }
        }
        return try await pages.collectPages(concurrency: settings.concurrency, transform)
    }

    /// GETs each id. A failure is the answer for that id alone, not for the cycle.
    func confirm(_ ids: [String], counter: RequestCounter) async throws(PlivoError) -> [(String, Confirmation)] {
        let source = source
        return try await Concurrently.map(ids, limit: settings.concurrency) {
            (id) async throws(PlivoError) -> (String, Confirmation) in
            do throws(PlivoError) {
                let app = try await call(counter) { () async throws(PlivoError) in try await source.application(id) }
                // An answer about another id is not an answer about this one.
                guard app.id == id else {
                    return (
                        id,
                        .failed(
                            PlivoError(
                                kind: .malformedResponse,
                                message: "GET \(id) answered with application \(app.id)"
                            )
                        )
                    )
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
    func call<T: Sendable>(
        _ counter: RequestCounter,
        _ body: () async throws(PlivoError) -> T
    ) async throws(PlivoError) -> T {
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

/// The ids a full sync has listed, each kept as the first 16 bytes of its SHA-256. Two ids
/// sharing them (odds about 1 in 10^29 across 100,000) would only delay that one deletion's
/// discovery; a deletion is announced only after Plivo's own 404 on a direct GET anyway.
struct SeenIds: Sendable {
    private struct Key: Hashable, Sendable { var high: UInt64, low: UInt64 }
    private var keys: Set<Key> = []

    var count: Int { keys.count }

    private static func key(_ id: String) -> Key {
        let digest = Array(SHA256.hash(data: Data(id.utf8)).prefix(16))
        let word = { (range: Range<Int>) in digest[range].reduce(UInt64(0)) { $0 << 8 | UInt64($1) } }
        return Key(high: word(0..<8), low: word(8..<16))
    }

    /// Adds `id`; whether it was new.
    mutating func insert(_ id: String) -> Bool { keys.insert(Self.key(id)).inserted }

    func contains(_ id: String) -> Bool { keys.contains(Self.key(id)) }
}
