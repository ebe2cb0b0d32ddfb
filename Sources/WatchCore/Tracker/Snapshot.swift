import Foundation
import PlivoCompliance

/// What the store remembers of one application between polls: the fields whose change makes an
/// event. Everything else Plivo sends is kept in `application` for the event body.
public struct Snapshot: Sendable, Equatable {
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

    /// Creates a snapshot.
    public init(
        account: String, applicationId: String, status: ApplicationStatus, rejectionReason: String?,
        documentIds: [String], body: String, version: Int
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
        Snapshot(
            account: account, applicationId: application.id, status: application.status,
            rejectionReason: application.rejectionReason, documentIds: application.documents.map(\.documentId).sorted(),
            body: EventApplication(application).canonicalJSON(), version: version)
    }

    /// The last observed object, decoded.
    public var application: EventApplication {
        (try? JSONDecoder().decode(EventApplication.self, from: Data(body.utf8)))
            ?? EventApplication(ComplianceApplication(id: applicationId, status: status, rejectionReason: rejectionReason))
    }
}
