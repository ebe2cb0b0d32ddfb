import Foundation
import PlivoCompliance

/// One transition of one application, as `compliance-watch history` shows it.
public struct HistoryEntry: Sendable {
    /// The event.
    public var event: Event
    /// Each sink's delivery of it, by sink name.
    public var deliveries: [(sink: String, state: DeliveryRecord.State, attempts: Int, lastError: String?)]
}

/// What `history` was asked about could not be answered.
public enum HistoryLookupError: Error, CustomStringConvertible {
    /// No application has this id or alias.
    case notFound(String)
    /// Several applications share this alias.
    case ambiguous(alias: String, ids: [String])

    /// One line for the operator.
    public var description: String {
        switch self {
        case .notFound(let name): "no application with id or alias '\(name)' in the state database"
        case .ambiguous(let alias, let ids):
            "alias '\(alias)' names \(ids.count) applications; use an id: \(ids.joined(separator: ", "))"
        }
    }
}

extension StateStore {
    /// The application that `name` (an id, else an alias, live or deleted) names: (account, id).
    /// - Throws: ``HistoryLookupError`` when none or several match.
    public func resolveApplication(_ name: String) throws -> (account: String, id: String) {
        let alias = database.dialect == .sqlite ? "json_extract(body, '$.alias')" : "(body::jsonb ->> 'alias')"
        return try database.read { db in
            if let row = try db.row("SELECT account, id FROM application WHERE id = ? LIMIT 1", name) {
                return (row["account"], row["id"])
            }
            let rows = try db.rows("SELECT account, id FROM application WHERE \(alias) = ? ORDER BY id", name)
            guard let first = rows.first else { throw HistoryLookupError.notFound(name) }
            guard rows.count == 1 else { throw HistoryLookupError.ambiguous(alias: name, ids: rows.map { $0["id"] }) }
            return (first["account"], first["id"])
        }
    }

    /// Every transition of one application, oldest first, with each sink's delivery state.
    public func history(account: String, applicationId: String) throws -> [HistoryEntry] {
        try database.read { db in
            let events = try db.rows(
                "SELECT seq, body FROM event WHERE account = ? AND applicationId = ? ORDER BY seq",
                account,
                applicationId
            )
            return try events.map { row in
                HistoryEntry(
                    event: try Event.decode(row["body"]),
                    deliveries: try db.rows(
                        "SELECT sink, state, attempts, lastError FROM delivery WHERE eventSeq = ? ORDER BY sink",
                        row["seq"] as Int64
                    ).map {
                        ($0["sink"], $0["state"], $0["attempts"], $0["lastError"])
                    }
                )
            }
        }
    }
}
