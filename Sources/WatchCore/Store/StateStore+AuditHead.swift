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
}
