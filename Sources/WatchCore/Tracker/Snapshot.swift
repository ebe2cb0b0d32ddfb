import PlivoCompliance

/// What the store remembers of one application between polls: the fields whose change makes an
/// event. Everything else Plivo sends is kept in `application` for the event body.
public struct Snapshot: Sendable, Equatable {
    public var account: String
    public var applicationId: String
    public var status: ApplicationStatus
    public var rejectionReason: String?
    /// Sorted document ids.
    public var documentIds: [String]
    /// The last observed object, canonical JSON (see ``EventApplication``).
    public var application: EventApplication
    /// How many events this application has produced; part of the next event's id.
    public var version: Int

    public init(
        account: String, applicationId: String, status: ApplicationStatus, rejectionReason: String?,
        documentIds: [String], application: EventApplication, version: Int
    ) {
        self.account = account
        self.applicationId = applicationId
        self.status = status
        self.rejectionReason = rejectionReason
        self.documentIds = documentIds
        self.application = application
        self.version = version
    }

    /// The snapshot for an observed application.
    public static func observed(_ application: ComplianceApplication, account: String, version: Int) -> Snapshot {
        Snapshot(
            account: account, applicationId: application.id, status: application.status,
            rejectionReason: application.rejectionReason, documentIds: application.documents.map(\.documentId).sorted(),
            application: EventApplication(application), version: version)
    }
}
