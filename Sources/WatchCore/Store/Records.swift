import Foundation
import GRDB
import PlivoCompliance

// The store's rows as GRDB records: each table is mapped to a type once, here. Dates are
// stored as seconds since 1970 (REAL), as the schema has always had them.

extension DeliveryRecord.State: DatabaseValueConvertible {}

extension EventType: DatabaseValueConvertible {}

extension PollState: FetchableRecord {
    /// Reads a `pollState` row.
    public init(row: Row) {
        let date = { (column: String) in (row[column] as Double?).map(Date.init(timeIntervalSince1970:)) }
        self.init(
            baselineDone: row["baselineDone"], lastFullSyncAt: date("lastFullSyncAt"), lastPollAt: date("lastPollAt"),
            lastPollOK: row["lastPollOK"], lastError: row["lastError"], consecutiveFailures: row["consecutiveFailures"],
            lastSuccessAt: date("lastSuccessAt"))
    }
}

extension Snapshot: FetchableRecord {
    /// Reads an `application` row (live or tombstone). `documentIds` is a JSON array.
    public init(row: Row) throws {
        let documents: String = row["documentIds"]
        self.init(
            account: row["account"], applicationId: row["id"], status: ApplicationStatus(row["status"] as String),
            rejectionReason: row["rejectionReason"], documentIds: try JSONDecoder().decode([String].self, from: Data(documents.utf8)),
            body: row["body"], version: row["version"])
        missedScans = row["missedScans"]
        problem = row["problem"]
        deletedAt = (row["deletedAt"] as Double?).map(Date.init(timeIntervalSince1970:))
    }
}

extension DeliveryRecord: FetchableRecord {
    /// Reads a `delivery` row joined with its event's `body`.
    public init(row: Row) throws {
        self.init(
            eventSeq: row["eventSeq"], sink: row["sink"], account: row["account"], applicationId: row["applicationId"],
            state: row["state"], attempts: row["attempts"],
            nextAttemptAt: Date(timeIntervalSince1970: row["nextAttemptAt"]), lastError: row["lastError"],
            createdAt: Date(timeIntervalSince1970: row["createdAt"]),
            deliveredAt: (row["deliveredAt"] as Double?).map(Date.init(timeIntervalSince1970:)),
            event: try Event.decode(row["body"]))
    }
}

/// One `auditHead` row: a file sink's newest chain line.
struct AuditHeadRecord: Codable, FetchableRecord, PersistableRecord {
    static let databaseTableName = "auditHead"
    static let databaseDateEncodingStrategy = DatabaseDateEncodingStrategy.timeIntervalSince1970
    static let databaseDateDecodingStrategy = DatabaseDateDecodingStrategy.timeIntervalSince1970

    var sink: String
    var seq: Int
    var hash: String
    var path: String
    var updatedAt: Date

    var head: AuditHead { AuditHead(seq: seq, hash: hash, path: path) }
}
