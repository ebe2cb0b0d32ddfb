import Foundation
import PlivoCompliance

// The store's rows as types: each table is mapped once, here, from a backend's ``SQLRow``.
// Dates are stored as seconds since 1970 (REAL), as the schema has always had them.

extension DeliveryRecord.State: SQLBindable, SQLDecodable {}

extension EventType: SQLBindable, SQLDecodable {}

extension PollState {
    /// Reads a `pollState` row.
    public init(row: SQLRow) {
        let date = { (column: String) in (row[column] as Double?).map(Date.init(timeIntervalSince1970:)) }
        self.init(
            baselineDone: row["baselineDone"],
            lastFullSyncAt: date("lastFullSyncAt"),
            lastPollAt: date("lastPollAt"),
            lastPollOK: row["lastPollOK"],
            lastError: row["lastError"],
            consecutiveFailures: row["consecutiveFailures"],
            lastSuccessAt: date("lastSuccessAt")
        )
    }
}

extension Snapshot {
    /// Reads an `application` row (live or tombstone). `documentIds` is a JSON array.
    public init(row: SQLRow) throws {
        let documents: String = row["documentIds"]
        self.init(
            account: row["account"],
            applicationId: row["id"],
            status: ApplicationStatus(row["status"] as String),
            rejectionReason: row["rejectionReason"],
            documentIds: try TrackedApplication.documentIds(documents),
            body: row["body"],
            version: row["version"]
        )
        contentHash = row["contentHash"]
        missedScans = row["missedScans"]
        problem = row["problem"]
        deletedAt = (row["deletedAt"] as Double?).map(Date.init(timeIntervalSince1970:))
    }
}

/// What a scan compares of one stored application, without its body.
public struct TrackedApplication: Sendable, Equatable, TrackedFields {
    /// The application's id.
    public var applicationId: String
    /// Its status as last seen.
    public var status: ApplicationStatus
    /// Its rejection reason as last seen.
    public var rejectionReason: String?
    /// Sorted document ids.
    public var documentIds: [String]
    /// Events it has produced.
    public var version: Int
    /// ``EventApplication/contentHash`` of the stored body; `nil` in rows older than it.
    public var contentHash: Data?
    /// Consecutive scans that missed it, each confirmed by Plivo's 404.
    public var missedScans: Int
    /// Why its confirmation keeps failing, if it does.
    public var problem: String?

    static let columns = "id, status, rejectionReason, documentIds, version, contentHash, missedScans, problem"

    /// Reads the ``columns`` of an `application` row.
    public init(row: SQLRow) throws {
        applicationId = row["id"]
        status = ApplicationStatus(row["status"] as String)
        rejectionReason = row["rejectionReason"]
        documentIds = try Self.documentIds(row["documentIds"])
        version = row["version"]
        contentHash = row["contentHash"]
        missedScans = row["missedScans"]
        problem = row["problem"]
    }

    /// `documentIds` is a JSON array of strings, as ``StateStore/jsonArray(_:)`` writes it. Without
    /// a backslash no string in it can hold a quote, so splitting on quotes is exact; anything
    /// else goes to JSONDecoder.
    static func documentIds(_ json: String) throws -> [String] {
        if json == "[]" { return [] }
        let quick: [String]? =
            json.utf8.withContiguousStorageIfAvailable { bytes in
                let (quote, comma) = (UInt8(ascii: "\""), UInt8(ascii: ","))
                guard bytes.count >= 4, bytes.first == UInt8(ascii: "["), bytes.last == UInt8(ascii: "]"),
                    !bytes.contains(UInt8(ascii: "\\"))
                else { return nil }
                var ids: [String] = []
                var i = 1
                while i < bytes.count - 1 {
                    guard bytes[i] == quote, let end = bytes[(i + 1)...].firstIndex(of: quote) else { return nil }
                    ids.append(String(decoding: bytes[(i + 1)..<end], as: UTF8.self))
                    i = end + 1
                    if bytes[i] == comma {
                        i += 1
                        guard i < bytes.count - 1 else { return nil }
                    } else if i != bytes.count - 1 {
                        return nil
                    }
                }
                return ids
            } ?? nil
        return try quick ?? JSONDecoder().decode([String].self, from: Data(json.utf8))
    }
}

extension DeliveryRecord {
    /// Reads a `delivery` row joined with its event's `body`.
    public init(row: SQLRow) throws {
        self.init(
            eventSeq: row["eventSeq"],
            sink: row["sink"],
            account: row["account"],
            applicationId: row["applicationId"],
            state: row["state"],
            attempts: row["attempts"],
            nextAttemptAt: Date(timeIntervalSince1970: row["nextAttemptAt"]),
            lastError: row["lastError"],
            createdAt: Date(timeIntervalSince1970: row["createdAt"]),
            deliveredAt: (row["deliveredAt"] as Double?).map(Date.init(timeIntervalSince1970:)),
            event: try Event.decode(row["body"])
        )
    }
}
