import Foundation

/// A delivery of one event to one sink.
public struct DeliveryRecord: Sendable {
    /// Where a delivery stands. Stored as its raw value; every query binds it, none spells it.
    public enum State: String, Sendable, CaseIterable, Codable {
        /// Waiting for its first or next attempt (or held behind an earlier event, or for a disabled sink).
        case pending
        /// Accepted by the sink.
        case delivered
        /// Given up on after `max_age` / `max_attempts` or a final answer; blocks the
        /// application's later events until redelivered or skipped.
        case dead
        /// Given up on by an operator (`deliveries skip`); no longer blocks later events.
        case skipped
    }

    /// The event's row number: the delivery order.
    public var eventSeq: Int64
    /// The sink's name.
    public var sink: String
    /// The event's account.
    public var account: String
    /// The event's application.
    public var applicationId: String
    /// Where it stands.
    public var state: State
    /// Attempts made.
    public var attempts: Int
    /// When a pending delivery may next be tried.
    public var nextAttemptAt: Date
    /// The last failure, or why it is held.
    public var lastError: String?
    /// When the event was recorded.
    public var createdAt: Date
    /// When the sink accepted it.
    public var deliveredAt: Date?
    /// The event, as recorded.
    public var event: Event

}

/// An application whose events wait behind a dead delivery to one sink.
public struct BlockedApplication: Sendable, Equatable {
    /// The sink.
    public var sink: String
    /// The application's account.
    public var account: String
    /// The application held back.
    public var applicationId: String
    /// The dead event everything after waits for (redeliver or skip it).
    public var blockingEventId: String
    /// The dead delivery's last error.
    public var reason: String
    /// How many later events wait.
    public var waiting: Int
}

/// How one sink is doing, from its delivery rows.
public struct SinkHealth: Sendable, Equatable {
    /// The sink.
    public var sink: String
    /// Pending deliveries that have failed at least once, and the newest error among them.
    public var retrying: Int
    /// The newest error among them.
    public var lastError: String?
}

/// Counts for `status`.
public struct StatusSummary: Sendable {
    /// Live applications by lowercased status, most first.
    public var applicationsByStatus: [(status: String, count: Int)]
    /// Delivery rows by sink and state.
    public var deliveries: [(sink: String, state: DeliveryRecord.State, count: Int)]
    /// Each account's poll bookkeeping.
    public var pollStates: [(account: String, state: PollState)]
    /// Events recorded.
    public var events: Int
    /// Sinks the running daemon disabled (410 Gone), with why and when.
    public var disabledSinks: [(sink: String, reason: String, at: Date)] = []
    /// Applications whose confirmation keeps failing.
    public var problems: [(account: String, applicationId: String, problem: String, since: Date)] = []
    /// Sinks with failing deliveries.
    public var health: [SinkHealth] = []
    /// Applications held behind a dead letter.
    public var blocked: [BlockedApplication] = []
    /// Live applications per account (auth id); empty in a light summary.
    public var applicationsByAccount: [String: Int] = [:]
}

extension StateStore {
    private typealias State = DeliveryRecord.State

    /// Pending deliveries for `sink` that are due, at most one per application: the oldest, and
    /// only when no earlier delivery of that application to this sink is pending or dead, so an
    /// application's events go out strictly in order and never past a dead letter.
    /// Applications in `busy` are skipped.
    public func dueDeliveries(sink: String, now: Date, limit: Int, busy: Set<String> = []) throws -> [DeliveryRecord] {
        // SQLite's planner otherwise picks delivery_due and sorts (measured in make bench).
        let hint = database.dialect == .sqlite ? "INDEXED BY delivery_pending" : ""
        return try database.read { db in
            let records = try db.rows(
                """
                SELECT d.*, e.body FROM delivery d \(hint) JOIN event e ON e.seq = d.eventSeq
                WHERE d.sink = ? AND d.state = ? AND d.nextAttemptAt <= ?
                  AND NOT EXISTS (SELECT 1 FROM delivery p WHERE p.sink = d.sink AND p.account = d.account
                                  AND p.applicationId = d.applicationId AND p.state IN (?, ?)
                                  AND p.eventSeq < d.eventSeq)
                ORDER BY d.eventSeq LIMIT ?
                """,
                sink,
                State.pending,
                now,
                State.pending,
                State.dead,
                limit + busy.count
            ).map(DeliveryRecord.init(row:))
            return records.filter { !busy.contains($0.account + "/" + $0.applicationId) }.prefix(limit).map { $0 }
        }
    }

    /// When the next pending delivery of `sink` becomes due, if any.
    public func nextDueAt(sink: String) throws -> Date? {
        try database.read { db in
            try db.value("SELECT MIN(nextAttemptAt) FROM delivery WHERE sink = ? AND state = ?", sink, State.pending)
        }
    }

    /// Records a successful attempt.
    public func markDelivered(eventSeq: Int64, sink: String, at: Date) throws {
        try markDelivered([(eventSeq, at)], sink: sink)
    }

    /// Records successful attempts, in one transaction.
    public func markDelivered(_ deliveries: [(eventSeq: Int64, at: Date)], sink: String) throws {
        guard !deliveries.isEmpty else { return }
        try database.write { db in
            // One statement per 100 rows: on PostgreSQL every statement is a round trip.
            for start in stride(from: 0, to: deliveries.count, by: 100) {
                let chunk = deliveries[start..<min(start + 100, deliveries.count)]
                let cases = Array(repeating: "WHEN ? THEN ?", count: chunk.count).joined(separator: " ")
                var arguments: [SQLValue] = [State.delivered.sqlValue]
                for (seq, at) in chunk { arguments += [seq.sqlValue, at.sqlValue] }
                arguments.append(sink.sqlValue)
                arguments += chunk.map { $0.eventSeq.sqlValue }
                try db.execute(
                    """
                    UPDATE delivery SET state = ?, attempts = attempts + 1, deliveredAt = CASE eventSeq \(cases) END, lastError = NULL
                    WHERE sink = ? AND eventSeq IN (\(sqlMarks(chunk.count)))
                    """,
                    arguments
                )
            }
        }
    }

    /// Records a failed attempt: retried at `retryAt`, or dead when `retryAt` is `nil`.
    public func markFailed(eventSeq: Int64, sink: String, error: String, retryAt: Date?) throws {
        try database.write { db in
            if let retryAt {
                try db.execute(
                    "UPDATE delivery SET attempts = attempts + 1, lastError = ?, nextAttemptAt = ? WHERE eventSeq = ? AND sink = ?",
                    error,
                    retryAt,
                    eventSeq,
                    sink
                )
            } else {
                try db.execute(
                    "UPDATE delivery SET attempts = attempts + 1, lastError = ?, state = ? WHERE eventSeq = ? AND sink = ?",
                    error,
                    State.dead,
                    eventSeq,
                    sink
                )
            }
        }
    }

    /// Marks every pending delivery of a sink as held (a webhook answered 410 Gone): still
    /// pending, with the reason as its last error, so `deliveries list` says why nothing moves.
    @discardableResult
    public func holdPending(sink: String, reason: String) throws -> Int {
        try database.write { db in
            try db.execute(
                "UPDATE delivery SET lastError = ? WHERE sink = ? AND state = ?",
                reason,
                sink,
                State.pending
            )
        }
    }

    /// Records that the running daemon disabled `sink`, for `status`.
    public func recordSinkDisabled(_ sink: String, reason: String, at: Date) throws {
        try database.write { db in
            try db.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                "sinkDisabled:" + sink,
                "\(at.timeIntervalSince1970) \(reason)"
            )
        }
    }

    /// At start: every sink is enabled again, and pending deliveries for sinks that are no longer
    /// configured become dead letters (`deliveries redeliver` brings them back once the sink is
    /// configured again).
    /// - Returns: The number of deliveries dead-lettered.
    @discardableResult
    public func prepareSinks(configured: Set<String>) throws -> Int {
        try database.write { db in
            try db.execute("DELETE FROM meta WHERE key LIKE 'sinkDisabled:%'")
            let pending: [String] = try db.column("SELECT DISTINCT sink FROM delivery WHERE state = ?", State.pending)
            var killed = 0
            for sink in pending where !configured.contains(sink) {
                killed += try db.execute(
                    "UPDATE delivery SET state = ?, lastError = 'sink removed from configuration' WHERE sink = ? AND state = ?",
                    State.dead,
                    sink,
                    State.pending
                )
            }
            return killed
        }
    }

    /// Deliveries, newest first, optionally of one sink and state.
    public func deliveries(
        sink: String? = nil,
        state: DeliveryRecord.State? = nil,
        limit: Int = 100
    ) throws -> [DeliveryRecord] {
        try database.read { db in
            var conditions: [String] = []
            var arguments: [SQLValue] = []
            if let sink {
                conditions.append("d.sink = ?")
                arguments.append(sink.sqlValue)
            }
            if let state {
                conditions.append("d.state = ?")
                arguments.append(state.sqlValue)
            }
            let whereClause = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
            arguments.append(limit.sqlValue)
            return try db.rows(
                """
                SELECT d.*, e.body FROM delivery d JOIN event e ON e.seq = d.eventSeq \(whereClause)
                ORDER BY d.eventSeq DESC LIMIT ?
                """,
                arguments
            ).map(DeliveryRecord.init(row:))
        }
    }

    /// Every event, oldest first (tests and tools).
    public func events() throws -> [Event] {
        try database.read { db in
            try db.column("SELECT body FROM event ORDER BY seq", as: Data.self).map(Event.decode)
        }
    }

    /// Makes an event's deliveries pending again, now, keeping the event id.
    ///
    /// A delivery already made to an append-only sink (the audit file) is never requeued: the
    /// file would hold the event twice.
    /// - Returns: The deliveries requeued, and the sinks left alone because the event is already
    ///   in their file.
    @discardableResult
    public func redeliver(
        eventId: String,
        sink: String? = nil,
        appendOnly: Set<String> = []
    ) throws -> (requeued: Int, kept: [String]) {
        try database.write { db in
            let sinkCondition = sink == nil ? "" : "AND sink = ?"
            let sinkArgument = sink.map { [$0.sqlValue] } ?? []
            let kept = try db.rows(
                """
                SELECT sink FROM delivery WHERE eventSeq = (SELECT seq FROM event WHERE id = ?) \(sinkCondition)
                  AND state = ? ORDER BY sink
                """,
                [eventId.sqlValue] + sinkArgument + [State.delivered.sqlValue]
            )
            .map { $0["sink"] as String }.filter(appendOnly.contains)
            let keptCondition = kept.isEmpty ? "" : "AND NOT (state = ? AND sink IN (\(sqlMarks(kept.count))))"
            let keptArguments = kept.isEmpty ? [] : [State.delivered.sqlValue] + kept.map(\.sqlValue)
            let requeued = try db.execute(
                """
                UPDATE delivery SET state = ?, nextAttemptAt = ?, attempts = 0
                WHERE eventSeq = (SELECT seq FROM event WHERE id = ?) \(sinkCondition) \(keptCondition)
                """,
                [State.pending.sqlValue, Date().sqlValue, eventId.sqlValue] + sinkArgument + keptArguments
            )
            return (requeued, kept)
        }
    }

    /// Makes every dead delivery of a sink pending again.
    @discardableResult
    public func redeliverDead(sink: String) throws -> Int {
        try database.write { db in
            try db.execute(
                "UPDATE delivery SET state = ?, nextAttemptAt = ?, attempts = 0 WHERE sink = ? AND state = ?",
                State.pending,
                Date(),
                sink,
                State.dead
            )
        }
    }

    /// An operator gives up on one event for one sink: its pending or dead delivery becomes
    /// `skipped` (with who-did-what in `lastError`), and the application's later events flow.
    /// - Returns: The number of deliveries skipped (0 or 1).
    @discardableResult
    public func skip(eventId: String, sink: String, at: Date = Date()) throws -> Int {
        try database.write { db in
            try db.execute(
                """
                UPDATE delivery SET state = ?,
                    lastError = ? || COALESCE(' (was: ' || lastError || ')', '')
                WHERE eventSeq = (SELECT seq FROM event WHERE id = ?) AND sink = ? AND state IN (?, ?)
                """,
                State.skipped,
                "skipped by operator at " + EventTime.format(at),
                eventId,
                sink,
                State.pending,
                State.dead
            )
        }
    }

    /// Whether any event has this id.
    public func hasEvent(id: String) throws -> Bool {
        try database.read { try $0.value("SELECT COUNT(*) FROM event WHERE id = ?", id, as: Int.self) ?? 0 > 0 }
    }

    /// Every sink name with at least one delivery row.
    public func sinkNames() throws -> Set<String> {
        try database.read { Set(try $0.column("SELECT DISTINCT sink FROM delivery", as: String.self)) }
    }

    /// Applications whose later events wait behind a dead delivery, per sink: what blocks them
    /// and how many wait.
    public func blocked() throws -> [BlockedApplication] {
        try database.read { db in
            try db.rows(
                """
                SELECT b.sink, b.account, b.applicationId, e.id AS eventId, b.lastError,
                       (SELECT COUNT(*) FROM delivery w WHERE w.sink = b.sink AND w.account = b.account
                          AND w.applicationId = b.applicationId AND w.state = ? AND w.eventSeq > b.eventSeq) AS waiting
                FROM delivery b JOIN event e ON e.seq = b.eventSeq
                WHERE b.state = ? AND b.eventSeq = (
                    SELECT MIN(f.eventSeq) FROM delivery f WHERE f.sink = b.sink AND f.account = b.account
                      AND f.applicationId = b.applicationId AND f.state = ?)
                  AND EXISTS (SELECT 1 FROM delivery w WHERE w.sink = b.sink AND w.account = b.account
                      AND w.applicationId = b.applicationId AND w.state = ? AND w.eventSeq > b.eventSeq)
                ORDER BY b.sink, b.eventSeq
                """,
                State.pending,
                State.dead,
                State.dead,
                State.pending
            ).map {
                BlockedApplication(
                    sink: $0["sink"],
                    account: $0["account"],
                    applicationId: $0["applicationId"],
                    blockingEventId: $0["eventId"],
                    reason: $0["lastError"] ?? "dead",
                    waiting: $0["waiting"]
                )
            }
        }
    }

    static func jsonArray(_ values: [String]) -> String {
        (try? String(decoding: JSONEncoder().encode(values), as: UTF8.self)) ?? "[]"
    }

    /// Counts for `compliance-watch status` and the systemd STATUS line.
    /// - Parameters:
    ///   - blocked: Also find the applications held behind dead letters (a heavier query that
    ///     `/metrics` does not need).
    ///   - light: Only what changes from cycle to cycle, from indexes: no application counts,
    ///     no event count, and deliveries counted only while pending. What the daemon refreshes
    ///     its status line with after every cycle, so a cycle's cost does not grow with the
    ///     number of applications or of delivered events.
    public func summary(blocked withBlocked: Bool = true, light: Bool = false) throws -> StatusSummary {
        var summary = try counts(light: light)
        if withBlocked { summary.blocked = try blocked() }
        return summary
    }

    private func counts(light: Bool) throws -> StatusSummary {
        try database.read { db in
            let apps =
                light
                ? []
                : try db.rows(
                    "SELECT LOWER(status) AS s, COUNT(*) AS n FROM application WHERE deletedAt IS NULL GROUP BY LOWER(status) ORDER BY n DESC, s"
                )
                .map { (status: $0["s"] as String, count: $0["n"] as Int) }
            let byAccount =
                light
                ? [:]
                : try Dictionary(
                    uniqueKeysWithValues: db.rows(
                        "SELECT account, COUNT(*) AS n FROM application WHERE deletedAt IS NULL GROUP BY account"
                    )
                    .map { ($0["account"] as String, $0["n"] as Int) }
                )
            let deliveries = try db.rows(
                "SELECT sink, state, COUNT(*) AS n FROM delivery \(light ? "WHERE state = ?" : "") GROUP BY sink, state ORDER BY sink, state",
                light ? [State.pending.sqlValue] : []
            )
            .map { (sink: $0["sink"] as String, state: $0["state"] as DeliveryRecord.State, count: $0["n"] as Int) }
            let polls = try db.rows("SELECT * FROM pollState ORDER BY account").map { row in
                (account: row["account"] as String, state: PollState(row: row))
            }
            let events = light ? 0 : try db.value("SELECT COUNT(*) FROM event", as: Int.self) ?? 0
            let disabled = try db.rows("SELECT key, value FROM meta WHERE key LIKE 'sinkDisabled:%' ORDER BY key").map {
                row in
                let parts = (row["value"] as String).split(separator: " ", maxSplits: 1).map(String.init)
                return (
                    sink: String((row["key"] as String).dropFirst("sinkDisabled:".count)),
                    reason: parts.count > 1 ? parts[1] : "",
                    at: Date(timeIntervalSince1970: Double(parts.first ?? "") ?? 0)
                )
            }
            let problems = try Self.problems(db)
            let health = try db.rows(
                """
                SELECT sink, COUNT(*) AS n,
                       (SELECT lastError FROM delivery l WHERE l.sink = d.sink AND l.state = ? AND l.attempts > 0
                        ORDER BY l.nextAttemptAt DESC LIMIT 1) AS lastError
                FROM delivery d WHERE state = ? AND attempts > 0 GROUP BY sink ORDER BY sink
                """,
                State.pending,
                State.pending
            ).map { SinkHealth(sink: $0["sink"], retrying: $0["n"], lastError: $0["lastError"]) }
            return StatusSummary(
                applicationsByStatus: apps,
                deliveries: deliveries,
                pollStates: polls,
                events: events,
                disabledSinks: disabled,
                problems: problems,
                health: health,
                blocked: [],
                applicationsByAccount: byAccount
            )
        }
    }

    /// Pending deliveries across sinks.
    public func pendingCount() throws -> Int {
        try database.read { try $0.value("SELECT COUNT(*) FROM delivery WHERE state = ?", State.pending) ?? 0 }
    }
}
