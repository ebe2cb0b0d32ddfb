import Crypto
import Foundation
import PlivoCompliance

/// What the store remembers of one application between polls: the fields whose change makes an
/// event. Everything else Plivo sends is kept in `application` for the event body.
public struct Snapshot: Sendable, Equatable, TrackedFields {
    /// The account.
    public var account: String
    /// The application's id.
    public var applicationId: String
    /// Its status as last seen.
    public var status: ApplicationStatus
    /// Its rejection reason as last seen.
    public var rejectionReason: String?
    /// Sorted document ids.
    public var documentIds: [String]
    /// The last observed object as canonical JSON (sorted keys): compared as text and decoded
    /// only when an event needs it, so a cycle over 100,000 stored applications decodes none.
    public var body: String
    /// How many events this application has produced; part of the next event's id.
    public var version: Int
    /// Consecutive scans that expected it, missed it, and got Plivo's 404 on a direct GET.
    public var missedScans: Int = 0
    /// Why the last attempt to confirm it failed, while it keeps failing.
    public var problem: String?
    /// Set on a tombstone: the application was confirmed deleted at this time.
    public var deletedAt: Date?
    /// ``EventApplication/contentHash`` of `body`; `nil` in rows written before it was stored.
    public var contentHash: Data?

    /// Creates a snapshot.
    public init(
        account: String,
        applicationId: String,
        status: ApplicationStatus,
        rejectionReason: String?,
        documentIds: [String],
        body: String,
        version: Int
    ) {
        self.account = account
        self.applicationId = applicationId
        self.status = status
        self.rejectionReason = rejectionReason
        self.documentIds = documentIds
        self.body = body
        self.version = version
    }

    /// The snapshot for an observed application.
    public static func observed(_ application: ComplianceApplication, account: String, version: Int) -> Snapshot {
        let shown = EventApplication(application)
        var snapshot = Snapshot(
            account: account,
            applicationId: application.id,
            status: application.status,
            rejectionReason: application.rejectionReason,
            documentIds: application.documents.map(\.documentId).sorted(),
            body: shown.canonicalJSON(),
            version: version
        )
        snapshot.contentHash = shown.contentHash
        return snapshot
    }

    /// The last observed object, decoded.
    public var application: EventApplication {
        (try? JSONDecoder().decode(EventApplication.self, from: Data(body.utf8)))
            ?? EventApplication(
                ComplianceApplication(id: applicationId, status: status, rejectionReason: rejectionReason)
            )
    }
}

extension EventApplication {
    /// 16 bytes of SHA-256 over every field an event shows, each length-prefixed in a fixed
    /// order: equal exactly when ``canonicalJSON()`` is, without encoding JSON. A hot scan
    /// compares it with the stored one, so an unchanged application costs no encoding and no
    /// read of its stored body.
    public var contentHash: Data {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(512)
        func add(_ text: String?) {
            guard let text else { return bytes.append(0) }
            bytes.append(1)
            let utf8 = text.utf8
            withUnsafeBytes(of: UInt32(utf8.count).littleEndian) { bytes.append(contentsOf: $0) }
            bytes.append(contentsOf: utf8)
        }
        for field in [
            complianceApplicationId, alias, status.rawValue, rejectionReason, endUserId, endUserType, countryISO2,
            numberType, complianceRequirementId, createdAt,
        ] { add(field) }
        withUnsafeBytes(of: UInt32(documents.count).littleEndian) { bytes.append(contentsOf: $0) }
        for document in documents {
            for field in [
                document.documentId, document.name, document.documentName, document.documentTypeId,
                document.documentTypeName,
            ] {
                add(field)
            }
        }
        return Data(SHA256.hash(data: bytes).prefix(16))
    }
}
