import Foundation
import PlivoCompliance

/// A sink's name and filter, as the outbox needs them when recording deliveries.
public struct SinkRoute: Sendable {
    /// The sink's name.
    public var name: String
    /// Which events get a delivery row for it.
    public var filter: EventFilter

    /// Creates a route.
    public init(name: String, filter: EventFilter) {
        self.name = name
        self.filter = filter
    }
}

/// Poll bookkeeping for one account.
public struct PollState: Sendable, Equatable {
    /// Whether the first full sync (the silent baseline) has been committed.
    public var baselineDone = false
    /// The last full sync committed.
    public var lastFullSyncAt: Date?
    /// The last cycle, complete or not.
    public var lastPollAt: Date?
    /// Whether that cycle read everything it asked for.
    public var lastPollOK: Bool?
    /// Why it did not, bounded.
    public var lastError: String?
    /// Failed or partial cycles in a row.
    public var consecutiveFailures = 0
    /// The last cycle that completed every list it made.
    public var lastSuccessAt: Date?
}

/// Everything a completed poll cycle decided, committed at once.
public struct CycleOutcome: Sendable {
    /// An observed application and what it means.
    public struct Observation: Sendable {
        /// The application as observed, with the stored version.
        public var snapshot: Snapshot
        /// What the tracker made of it.
        public var change: Tracker.Change

        /// Creates an observation.
        public init(snapshot: Snapshot, change: Tracker.Change) {
            self.snapshot = snapshot
            self.change = change
        }
    }

    /// The account polled.
    public var account: String
    /// Applications seen and changed (or whose suspicion is cleared).
    public var observations: [Observation]
    /// Ids of stored applications confirmed deleted: missed by two consecutive scans, each time
    /// with Plivo's 404 on a direct GET.
    public var deletions: [String]
    /// Missed by this scan, with Plivo's 404, but not yet by two in a row.
    public var misses: [String]
    /// Applications whose confirming GET kept failing this cycle, with the reason. Their stored
    /// snapshot is kept as it is.
    public var problems: [String: String]
    /// Whether this was a full sync (everything listed), not a hot scan.
    public var fullSync: Bool
    /// Whether every list the cycle asked for was read completely. A partial hot scan still
    /// commits what it saw, but does not count as a successful poll.
    public var complete: Bool
    /// When the cycle ran (the clock's wall time).
    public var at: Date

    /// Creates an outcome.
    public init(
        account: String,
        observations: [Observation],
        deletions: [String],
        misses: [String] = [],
        problems: [String: String] = [:],
        fullSync: Bool,
        complete: Bool = true,
        at: Date
    ) {
        self.account = account
        self.observations = observations
        self.deletions = deletions
        self.misses = misses
        self.problems = problems
        self.fullSync = fullSync
        self.complete = complete
        self.at = at
    }
}

/// What a commit recorded, and what it refused.
public struct CommitResult: Sendable {
    /// Two rows that would have shared one event id: a bug, never a reason to lose the cycle.
    public struct Conflict: Sendable, CustomStringConvertible {
        /// The application skipped.
        public var applicationId: String
        /// The id both rows wanted.
        public var eventId: String
        /// The stored event's type and body.
        public var existing: String
        /// The event that was refused.
        public var refused: String

        public var description: String {
            "event id \(eventId) for application \(applicationId) already exists: stored \(existing); refused \(refused)"
        }
    }

    /// The events recorded, in order.
    public var events: [Event]
    /// Applications skipped for this cycle because their next event id was taken.
    public var conflicts: [Conflict]
}

extension StateStore {
    /// Every live (not deleted) stored snapshot of an account, by application id.
    public func snapshots(account: String) throws -> [String: Snapshot] {
        try snapshots(account: account, where: "deletedAt IS NULL")
    }

    /// The tombstones of an account's deleted applications, by application id.
    public func tombstones(account: String) throws -> [String: Snapshot] {
        try snapshots(account: account, where: "deletedAt IS NOT NULL")
    }

    private func snapshots(account: String, where condition: String) throws -> [String: Snapshot] {
        try database.read { db in
            var result: [String: Snapshot] = [:]
            try db.each("SELECT * FROM application WHERE account = ? AND \(condition)", [.text(account)]) { row in
                let snapshot = try Snapshot(row: row)
                result[snapshot.applicationId] = snapshot
            }
            return result
        }
    }

    /// The live applications a hot scan expects to see (changeable, or suspected gone), without
    /// their bodies, from the `application_watch` index.
    public func watchedApplications(account: String) throws -> [String: TrackedApplication] {
        try database.read { db in
            try Self.tracked(
                db,
                sql:
                    "SELECT \(TrackedApplication.columns) FROM application WHERE account = ? AND \(Self.watchCondition)",
                arguments: [.text(account)]
            )
        }
    }

    /// The live applications among `ids`, without their bodies.
    public func trackedApplications(
        account: String,
        ids: some Collection<String>
    ) throws -> [String: TrackedApplication] {
        guard !ids.isEmpty else { return [:] }
        return try database.read { db in
            var result: [String: TrackedApplication] = [:]
            // Bounded chunks: SQLite limits the number of bound parameters.
            let all = Array(ids)
            for start in stride(from: 0, to: all.count, by: 500) {
                let chunk = all[start..<min(start + 500, all.count)]
                result.merge(
                    try Self.tracked(
                        db,
                        sql:
                            "SELECT \(TrackedApplication.columns) FROM application WHERE account = ? AND id IN (\(sqlMarks(chunk.count))) AND deletedAt IS NULL",
                        arguments: [.text(account)] + chunk.map(\.sqlValue)
                    )
                ) { a, _ in a }
            }
            return result
        }
    }

    /// The ids of an account's live applications for which `include` is true: what a full
    /// sync expected and did not list. Read through a cursor, so a sync of 100,000 applications
    /// never holds a set of every stored id.
    public func liveApplicationIds(account: String, where include: (String) -> Bool) throws -> Set<String> {
        try database.read { db in
            var result: Set<String> = []
            try db.each("SELECT id FROM application WHERE account = ? AND deletedAt IS NULL", [.text(account)]) { row in
                let id: String = row["id"]
                if include(id) { result.insert(id) }
            }
            return result
        }
    }

    private static func tracked(
        _ db: any SQLConnection,
        sql: String,
        arguments: [SQLValue]
    ) throws -> [String: TrackedApplication] {
        var result: [String: TrackedApplication] = [:]
        try db.each(sql, arguments) { row in
            let tracked = try TrackedApplication(row: row)
            result[tracked.applicationId] = tracked
        }
        return result
    }

    /// Applications whose confirmation keeps failing, oldest problem first.
    public func problems() throws -> [(account: String, applicationId: String, problem: String, since: Date)] {
        try database.read(Self.problems)
    }

    static func problems(
        _ db: any SQLConnection
    ) throws -> [(account: String, applicationId: String, problem: String, since: Date)] {
        try db.rows(
            """
            SELECT account, id, problem, problemSince FROM application
            WHERE problem IS NOT NULL ORDER BY problemSince
            """
        ).map { ($0["account"], $0["id"], $0["problem"], $0["problemSince"]) }
    }

    /// The account's poll bookkeeping; a fresh state before its first cycle.
    public func pollState(account: String) throws -> PollState {
        try database.read { db in
            try db.row("SELECT * FROM pollState WHERE account = ?", account).map(PollState.init(row:)) ?? PollState()
        }
    }

    /// Commits a whole cycle in one transaction; see ``commitCycle(_:sinks:)``.
    /// - Returns: The events recorded, in order.
    @discardableResult
    public func commit(_ outcome: CycleOutcome, sinks: [SinkRoute]) throws -> [Event] {
        try commitCycle(outcome, sinks: sinks).events
    }

    /// Commits a whole cycle in one transaction: for every change, the snapshot update, the
    /// event, and one pending delivery per sink whose filter matches. Nothing is sent before this
    /// returns, so a crash either keeps all of it or none of it.
    ///
    /// An application whose next event id is already taken is left out and reported in
    /// ``CommitResult/conflicts``; the rest of the cycle commits.
    ///
    /// Deliveries for a sink in `held` (disabled by its receiver) are recorded pending with the
    /// reason as their last error, and go out when the sink is enabled again.
    public func commitCycle(
        _ outcome: CycleOutcome,
        sinks: [SinkRoute],
        held: [String: String] = [:]
    ) throws -> CommitResult {
        try database.write { db in
            var events: [Event] = []
            var conflicts: [CommitResult.Conflict] = []
            let now = outcome.at.timeIntervalSince1970
            let stamp = EventTime.format(outcome.at)
            let salt: String = try db.value("SELECT value FROM meta WHERE key = 'eventIdSalt'") ?? ""

            /// Records the event for `change`, if it makes one. Returns the application's new
            /// version, or `nil` when the event id is taken (the application is then skipped).
            func record(_ snapshot: Snapshot, change: Tracker.Change, previous: Snapshot?) throws -> Int? {
                let base = previous?.version ?? snapshot.version
                guard let type = change.eventType else { return base }
                let version = base + 1
                let previousPayload: Event.Previous? = previous.map {
                    $0.deletedAt != nil
                        ? .init(status: "deleted", rejectionReason: nil)
                        : .init(status: $0.status, rejectionReason: $0.rejectionReason)
                }
                let to: ApplicationStatus = change == .deleted ? "deleted" : snapshot.status
                var event = Event(
                    id: "",
                    type: type,
                    timestamp: stamp,
                    account: outcome.account,
                    data: .init(application: snapshot.application, previous: previousPayload, detectedAt: stamp)
                )
                event.id = Event.makeId(
                    salt: salt,
                    account: outcome.account,
                    applicationId: snapshot.applicationId,
                    version: version,
                    transition: Event.transition(type: type, from: previousPayload?.status, to: to)
                )
                let body = event.canonicalJSON()
                event.recorded = body
                if let row = try db.row("SELECT type, body FROM event WHERE id = ?", event.id) {
                    conflicts.append(
                        .init(
                            applicationId: snapshot.applicationId,
                            eventId: event.id,
                            existing:
                                "\(row["type"] as String) \(String(decoding: row["body"] as Data, as: UTF8.self))",
                            refused: "\(type) \(String(decoding: body, as: UTF8.self))"
                        )
                    )
                    return nil
                }
                let seq: Int64 =
                    try db.value(
                        "INSERT INTO event (id, account, applicationId, type, body, createdAt) VALUES (?, ?, ?, ?, ?, ?) RETURNING seq",
                        event.id,
                        outcome.account,
                        snapshot.applicationId,
                        type,
                        body,
                        now
                    ) ?? 0
                for sink in sinks
                where sink.filter.matches(
                    type: type,
                    from: event.fromStatus,
                    to: event.toStatus,
                    account: outcome.account
                ) {
                    try db.execute(
                        """
                        INSERT INTO delivery (eventSeq, sink, account, applicationId, state, nextAttemptAt, createdAt, lastError)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                        """,
                        seq,
                        sink.name,
                        outcome.account,
                        snapshot.applicationId,
                        DeliveryRecord.State.pending,
                        now,
                        now,
                        held[sink.name]
                    )
                }
                events.append(event)
                return version
            }

            // The previous state is read inside this transaction, by key: only the rows this cycle
            // touches, tombstones included.
            func stored(_ id: String) throws -> Snapshot? {
                try db.row("SELECT * FROM application WHERE account = ? AND id = ?", outcome.account, id).map(
                    Snapshot.init(row:)
                )
            }

            for observation in outcome.observations {
                let s = observation.snapshot
                guard let version = try record(s, change: observation.change, previous: try stored(s.applicationId))
                else { continue }
                try db.execute(
                    """
                    INSERT INTO application (account, id, status, rejectionReason, documentIds, body, contentHash, version, firstSeenAt, lastSeenAt)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT (account, id) DO UPDATE SET status = excluded.status,
                        rejectionReason = excluded.rejectionReason, documentIds = excluded.documentIds,
                        body = excluded.body, contentHash = excluded.contentHash, version = excluded.version,
                        lastSeenAt = excluded.lastSeenAt, deletedAt = NULL, missedScans = 0, problem = NULL, problemSince = NULL
                    """,
                    outcome.account,
                    s.applicationId,
                    s.status.rawValue,
                    s.rejectionReason,
                    Self.jsonArray(s.documentIds),
                    s.body,
                    s.contentHash,
                    version,
                    now,
                    now
                )
            }
            for gone in outcome.deletions {
                guard let previous = try stored(gone), previous.deletedAt == nil else { continue }
                guard let version = try record(previous, change: .deleted, previous: previous) else { continue }
                try db.execute(
                    """
                    UPDATE application SET deletedAt = ?, version = ?, missedScans = 0, problem = NULL, problemSince = NULL
                    WHERE account = ? AND id = ?
                    """,
                    now,
                    version,
                    outcome.account,
                    gone
                )
            }
            for id in outcome.misses {
                try db.execute(
                    "UPDATE application SET missedScans = missedScans + 1 WHERE account = ? AND id = ? AND deletedAt IS NULL",
                    outcome.account,
                    id
                )
            }
            for (id, problem) in outcome.problems {
                try db.execute(
                    "UPDATE application SET problem = ?, problemSince = COALESCE(problemSince, ?) WHERE account = ? AND id = ?",
                    problem,
                    now,
                    outcome.account,
                    id
                )
            }

            if outcome.complete {
                // CASE, not MAX(a, b): SQLite's two-argument MAX is PostgreSQL's GREATEST.
                try db.execute(
                    """
                    INSERT INTO pollState (account, baselineDone, lastFullSyncAt, lastPollAt, lastPollOK, lastError, consecutiveFailures, lastSuccessAt)
                    VALUES (?, ?, ?, ?, 1, NULL, 0, ?)
                    ON CONFLICT (account) DO UPDATE SET
                        baselineDone = CASE WHEN excluded.baselineDone = 1 THEN 1 ELSE pollState.baselineDone END,
                        lastFullSyncAt = COALESCE(excluded.lastFullSyncAt, pollState.lastFullSyncAt),
                        lastPollAt = excluded.lastPollAt, lastPollOK = 1, lastError = NULL, consecutiveFailures = 0,
                        lastSuccessAt = excluded.lastSuccessAt
                    """,
                    outcome.account,
                    outcome.fullSync,
                    outcome.fullSync ? now : nil,
                    now,
                    now
                )
            }
            return CommitResult(events: events, conflicts: conflicts)
        }
    }

    /// Records a failed (or partial) cycle. Snapshots are untouched, so nothing half-observed is compared later.
    public func recordPollFailure(account: String, error: String, at: Date) throws {
        try database.write { db in
            try db.execute(
                """
                INSERT INTO pollState (account, lastPollAt, lastPollOK, lastError, consecutiveFailures)
                VALUES (?, ?, 0, ?, 1)
                ON CONFLICT (account) DO UPDATE SET lastPollAt = excluded.lastPollAt, lastPollOK = 0,
                    lastError = excluded.lastError, consecutiveFailures = pollState.consecutiveFailures + 1
                """,
                account,
                at,
                error
            )
        }
    }
}
