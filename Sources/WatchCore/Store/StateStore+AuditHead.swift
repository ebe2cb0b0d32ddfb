import Foundation

/// The newest line of an audit chain: its sequence number and SHA-256.
public struct AuditHead: Sendable, Equatable {
    /// The line's `seq`.
    public var seq: Int
    /// The line's SHA-256, hex.
    public var hash: String
    /// The file it was written to.
    public var path: String
    /// The sealing epoch of the line, when sealed: the next line's bridge starts from it, also
    /// when another host writes that line (several instances on one store).
    public var epoch: Int?

    /// Creates a head.
    public init(seq: Int, hash: String, path: String, epoch: Int? = nil) {
        self.seq = seq
        self.hash = hash
        self.path = path
        self.epoch = epoch
    }
}

extension StateStore {
    /// The head recorded for `sink`, if it has written a line.
    public func auditHead(sink: String) throws -> AuditHead? {
        try database.read { db in
            try db.row("SELECT seq, hash, path, epoch FROM auditHead WHERE sink = ?", sink).map(Self.head)
        }
    }

    /// Records `sink`'s newest line, replacing the previous head; with several hosts, also
    /// as the head of this host's file (`fileKey`, `SINK@HOST:PATH`), in the same transaction.
    public func setAuditHead(sink: String, head: AuditHead, fileKey: String? = nil) throws {
        try database.write { db in
            for key in [sink] + (fileKey.map { [$0] } ?? []) {
                try db.execute(
                    """
                    INSERT INTO auditHead (sink, seq, hash, path, updatedAt, epoch) VALUES (?, ?, ?, ?, ?, ?)
                    ON CONFLICT (sink) DO UPDATE SET seq = excluded.seq, hash = excluded.hash, path = excluded.path,
                        updatedAt = excluded.updatedAt, epoch = excluded.epoch
                    """,
                    key,
                    head.seq,
                    head.hash,
                    head.path,
                    Date(),
                    head.epoch
                )
            }
        }
    }

    /// Every recorded head (for `audit verify` to find the one of a file).
    public func auditHeads() throws -> [String: AuditHead] {
        try database.read { db in
            Dictionary(
                uniqueKeysWithValues: try db.rows("SELECT sink, seq, hash, path, epoch FROM auditHead").map {
                    ($0["sink"], Self.head($0))
                }
            )
        }
    }

    private static func head(_ row: SQLRow) -> AuditHead {
        AuditHead(seq: row["seq"], hash: row["hash"], path: row["path"], epoch: row["epoch"])
    }

    /// Every delivery to `sink` that should be in its files: delivered (with when) or dead (a
    /// hole left by an older version that dead-lettered file deliveries). Oldest first.
    public func auditDeliveries(
        sink: String
    ) throws -> [(eventId: String, state: DeliveryRecord.State, deliveredAt: Date?)] {
        try database.read { db in
            try db.rows(
                """
                SELECT e.id, d.state, d.deliveredAt FROM delivery d JOIN event e ON e.seq = d.eventSeq
                WHERE d.sink = ? AND d.state IN (?, ?) ORDER BY d.eventSeq
                """,
                sink,
                DeliveryRecord.State.delivered,
                DeliveryRecord.State.dead
            )
            .map { ($0["id"], $0["state"], $0["deliveredAt"]) }
        }
    }
}
