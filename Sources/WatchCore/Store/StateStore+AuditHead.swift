import Foundation
import GRDB

/// The newest line of an audit chain: its sequence number and SHA-256.
public struct AuditHead: Sendable, Equatable {
    public var seq: Int
    public var hash: String
    public var path: String

    public init(seq: Int, hash: String, path: String) {
        self.seq = seq
        self.hash = hash
        self.path = path
    }
}

extension StateStore {
    public func auditHead(sink: String) throws -> AuditHead? {
        try writer.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM auditHead WHERE sink = ?", arguments: [sink]).map {
                AuditHead(seq: $0["seq"], hash: $0["hash"], path: $0["path"])
            }
        }
    }

    public func setAuditHead(sink: String, head: AuditHead) throws {
        try writer.write { db in
            try db.execute(
                sql: """
                    INSERT INTO auditHead (sink, seq, hash, path, updatedAt) VALUES (?, ?, ?, ?, ?)
                    ON CONFLICT (sink) DO UPDATE SET seq = excluded.seq, hash = excluded.hash, path = excluded.path,
                        updatedAt = excluded.updatedAt
                    """,
                arguments: [sink, head.seq, head.hash, head.path, Date().timeIntervalSince1970])
        }
    }

    /// Every recorded head (for `audit verify` to find the one of a file).
    public func auditHeads() throws -> [String: AuditHead] {
        try writer.read { db in
            var result: [String: AuditHead] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT * FROM auditHead") {
                result[row["sink"]] = AuditHead(seq: row["seq"], hash: row["hash"], path: row["path"])
            }
            return result
        }
    }

    /// Every delivery to `sink` that should be in its files: delivered (with when) or dead (a
    /// hole left by an older version that dead-lettered file deliveries). Oldest first.
    public func auditDeliveries(sink: String) throws -> [(eventId: String, state: DeliveryRecord.State, deliveredAt: Date?)] {
        try writer.read { db in
            try Row.fetchAll(db, sql: """
                SELECT e.id, d.state, d.deliveredAt FROM delivery d JOIN event e ON e.seq = d.eventSeq
                WHERE d.sink = ? AND d.state IN ('delivered', 'dead') ORDER BY d.eventSeq
                """, arguments: [sink]).map {
                ($0["id"], DeliveryRecord.State(rawValue: $0["state"]) ?? .dead, ($0["deliveredAt"] as Double?).map(Date.init(timeIntervalSince1970:)))
            }
        }
    }
}
