import Foundation
import GRDB

/// The newest line of an audit chain: its sequence number and SHA-256.
public struct AuditHead: Sendable, Equatable {
    /// The line's `seq`.
    public var seq: Int
    /// The line's SHA-256, hex.
    public var hash: String
    /// The file it was written to.
    public var path: String

    /// Creates a head.
    public init(seq: Int, hash: String, path: String) {
        self.seq = seq
        self.hash = hash
        self.path = path
    }
}

extension StateStore {
    /// The head recorded for `sink`, if it has written a line.
    public func auditHead(sink: String) throws -> AuditHead? {
        try writer.read { db in try AuditHeadRecord.fetchOne(db, key: sink)?.head }
    }

    /// Records `sink`'s newest line, replacing the previous head.
    public func setAuditHead(sink: String, head: AuditHead) throws {
        try writer.write { db in
            try AuditHeadRecord(sink: sink, seq: head.seq, hash: head.hash, path: head.path, updatedAt: Date()).upsert(db)
        }
    }

    /// Every recorded head (for `audit verify` to find the one of a file).
    public func auditHeads() throws -> [String: AuditHead] {
        try writer.read { db in
            Dictionary(uniqueKeysWithValues: try AuditHeadRecord.fetchAll(db).map { ($0.sink, $0.head) })
        }
    }

    /// Every delivery to `sink` that should be in its files: delivered (with when) or dead (a
    /// hole left by an older version that dead-lettered file deliveries). Oldest first.
    public func auditDeliveries(sink: String) throws -> [(eventId: String, state: DeliveryRecord.State, deliveredAt: Date?)] {
        try writer.read { db in
            let states: [DeliveryRecord.State] = [.delivered, .dead]
            return try SQLRequest<Row>(literal: """
                SELECT e.id, d.state, d.deliveredAt FROM delivery d JOIN event e ON e.seq = d.eventSeq
                WHERE d.sink = \(sink) AND d.state IN \(states) ORDER BY d.eventSeq
                """).fetchAll(db).map { ($0["id"], $0["state"], ($0["deliveredAt"] as Double?).map(Date.init(timeIntervalSince1970:))) }
        }
    }
}
