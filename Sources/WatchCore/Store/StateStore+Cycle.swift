import Foundation
import GRDB
import PlivoCompliance

/// A sink's name and filter, as the outbox needs them when recording deliveries.
public struct SinkRoute: Sendable {
    public var name: String
    public var filter: EventFilter

    public init(name: String, filter: EventFilter) {
        self.name = name
        self.filter = filter
    }
}

/// Poll bookkeeping for one account.
public struct PollState: Sendable, Equatable {
    public var baselineDone = false
    public var lastFullSyncAt: Date?
    public var lastPollAt: Date?
    public var lastPollOK: Bool?
    public var lastError: String?
    public var consecutiveFailures = 0
}

/// Everything a completed poll cycle decided, committed at once.
public struct CycleOutcome: Sendable {
    /// An observed application and what it means.
    public struct Observation: Sendable {
        public var snapshot: Snapshot
        public var change: Tracker.Change

        public init(snapshot: Snapshot, change: Tracker.Change) {
            self.snapshot = snapshot
            self.change = change
        }
    }

    public var account: String
    public var observations: [Observation]
    /// Stored snapshots confirmed deleted (404 on a direct GET).
    public var deletions: [Snapshot]
    public var fullSync: Bool
    public var at: Date

    public init(account: String, observations: [Observation], deletions: [Snapshot], fullSync: Bool, at: Date) {
        self.account = account
        self.observations = observations
        self.deletions = deletions
        self.fullSync = fullSync
        self.at = at
    }
}

extension StateStore {
    /// Every stored snapshot of an account, by application id.
    public func snapshots(account: String) throws -> [String: Snapshot] {
        try writer.read { db in
            var result: [String: Snapshot] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT * FROM application WHERE account = ?", arguments: [account]) {
                let snapshot = Self.snapshot(row)
                result[snapshot.applicationId] = snapshot
            }
            return result
        }
    }

    static func snapshot(_ row: Row) -> Snapshot {
        let documents: String = row["documentIds"]
        return Snapshot(
            account: row["account"], applicationId: row["id"], status: ApplicationStatus(row["status"] as String),
            rejectionReason: row["rejectionReason"], documentIds: documents.isEmpty ? [] : documents.components(separatedBy: ","),
            body: row["body"], version: row["version"])
    }

    public func pollState(account: String) throws -> PollState {
        try writer.read { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT * FROM pollState WHERE account = ?", arguments: [account]) else {
                return PollState()
            }
            return PollState(
                baselineDone: row["baselineDone"], lastFullSyncAt: (row["lastFullSyncAt"] as Double?).map(Date.init(timeIntervalSince1970:)),
                lastPollAt: (row["lastPollAt"] as Double?).map(Date.init(timeIntervalSince1970:)),
                lastPollOK: row["lastPollOK"], lastError: row["lastError"], consecutiveFailures: row["consecutiveFailures"])
        }
    }

    /// Commits a whole cycle in one transaction: for every change, the snapshot update, the
    /// event, and one pending delivery per sink whose filter matches. Nothing is sent before this
    /// returns, so a crash either keeps all of it or none of it.
    /// - Returns: The events recorded, in order.
    @discardableResult
    public func commit(_ outcome: CycleOutcome, sinks: [SinkRoute]) throws -> [Event] {
        try writer.write { db in
            var events: [Event] = []
            let now = outcome.at.timeIntervalSince1970
            let stamp = EventTime.format(outcome.at)

            func record(_ snapshot: Snapshot, change: Tracker.Change, previous: Snapshot?) throws -> Int {
                guard let type = change.eventType else { return snapshot.version }
                let version = (previous?.version ?? 0) + 1
                let event = Event(
                    id: Event.makeId(account: outcome.account, applicationId: snapshot.applicationId, version: version),
                    type: type, timestamp: stamp, account: outcome.account,
                    data: .init(
                        application: snapshot.application,
                        previous: previous.map { .init(status: $0.status.rawValue, rejectionReason: $0.rejectionReason) },
                        detectedAt: stamp))
                try db.execute(
                    sql: "INSERT INTO event (id, account, applicationId, type, body, createdAt) VALUES (?, ?, ?, ?, ?, ?)",
                    arguments: [event.id, outcome.account, snapshot.applicationId, type, event.canonicalJSON(), now])
                let seq = db.lastInsertedRowID
                for sink in sinks where sink.filter.matches(type: type, from: event.fromStatus, to: event.toStatus) {
                    try db.execute(
                        sql: """
                            INSERT INTO delivery (eventSeq, sink, account, applicationId, state, nextAttemptAt, createdAt)
                            VALUES (?, ?, ?, ?, 'pending', ?, ?)
                            """,
                        arguments: [seq, sink.name, outcome.account, snapshot.applicationId, now, now])
                }
                events.append(event)
                return version
            }

            // The previous state is read inside this transaction, by key: only the rows this cycle
            // touches, and never stale even if another process (`once`) wrote in between.
            let lookup = try db.cachedStatement(sql: "SELECT * FROM application WHERE account = ? AND id = ?")
            func stored(_ id: String) throws -> Snapshot? {
                try Row.fetchOne(lookup, arguments: [outcome.account, id]).map(Self.snapshot)
            }

            for observation in outcome.observations {
                let s = observation.snapshot
                let version = try record(s, change: observation.change, previous: try stored(s.applicationId))
                try db.execute(
                    sql: """
                        INSERT INTO application (account, id, status, rejectionReason, documentIds, body, version, firstSeenAt, lastSeenAt)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                        ON CONFLICT (account, id) DO UPDATE SET status = excluded.status,
                            rejectionReason = excluded.rejectionReason, documentIds = excluded.documentIds,
                            body = excluded.body, version = excluded.version, lastSeenAt = excluded.lastSeenAt
                        """,
                    arguments: [outcome.account, s.applicationId, s.status.rawValue, s.rejectionReason,
                                s.documentIds.joined(separator: ","), s.body, version, now, now])
            }
            for gone in outcome.deletions {
                guard let previous = try stored(gone.applicationId) else { continue }
                _ = try record(previous, change: .deleted, previous: previous)
                try db.execute(sql: "DELETE FROM application WHERE account = ? AND id = ?", arguments: [outcome.account, gone.applicationId])
            }

            try db.execute(
                sql: """
                    INSERT INTO pollState (account, baselineDone, lastFullSyncAt, lastPollAt, lastPollOK, lastError, consecutiveFailures)
                    VALUES (?, ?, ?, ?, 1, NULL, 0)
                    ON CONFLICT (account) DO UPDATE SET
                        baselineDone = MAX(baselineDone, excluded.baselineDone),
                        lastFullSyncAt = COALESCE(excluded.lastFullSyncAt, lastFullSyncAt),
                        lastPollAt = excluded.lastPollAt, lastPollOK = 1, lastError = NULL, consecutiveFailures = 0
                    """,
                arguments: [outcome.account, outcome.fullSync, outcome.fullSync ? now : nil, now])
            return events
        }
    }

    /// Records a failed cycle. Snapshots are untouched, so nothing half-observed is compared later.
    public func recordPollFailure(account: String, error: String, at: Date) throws {
        try writer.write { db in
            try db.execute(
                sql: """
                    INSERT INTO pollState (account, lastPollAt, lastPollOK, lastError, consecutiveFailures)
                    VALUES (?, ?, 0, ?, 1)
                    ON CONFLICT (account) DO UPDATE SET lastPollAt = excluded.lastPollAt, lastPollOK = 0,
                        lastError = excluded.lastError, consecutiveFailures = consecutiveFailures + 1
                    """,
                arguments: [account, at.timeIntervalSince1970, error])
        }
    }
}
