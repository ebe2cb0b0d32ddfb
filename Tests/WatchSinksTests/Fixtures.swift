import Foundation
import PlivoCompliance
import WatchCore

/// Builds a status-change event the way the poller would.
func makeEvent(
    app: String = "7c83fd87-fb5d-4a88-bde0-7c96da35f1e6",
    alias: String? = "acme-fr-mobile",
    from: String? = "submitted",
    to: String = "accepted",
    reason: String? = nil,
    version: Int = 1
) -> Event {
    let application = ComplianceApplication(
        id: app,
        alias: alias,
        status: ApplicationStatus(to),
        rejectionReason: reason,
        endUserId: "f7ba78e0",
        endUserType: "business",
        countryISO2: "FR",
        numberType: "mobile",
        complianceRequirementId: "4ae473b0",
        documents: [
            ApplicationDocument(documentId: "4a9599cc", name: "Proof of Address", documentName: "acme utility bill")
        ],
        createdAt: PlivoTimestamp(raw: "2021-02-08T19:32:33.240504+00:00")
    )
    let type = from == nil ? EventType.created : EventType.statusChanged
    return Event(
        id: Event.makeId(
            salt: "fixture",
            account: "MA1",
            applicationId: app,
            version: version,
            transition: Event.transition(
                type: type,
                from: from.map { ApplicationStatus($0) },
                to: ApplicationStatus(to)
            )
        ),
        type: type,
        timestamp: "2026-11-25T10:00:03.123Z",
        account: "MAXXXXXXXXXXXXXXXXXX",
        data: .init(
            application: EventApplication(application),
            previous: from.map { .init(status: ApplicationStatus($0), rejectionReason: nil) },
            detectedAt: "2026-11-25T10:00:03.123Z"
        )
    )
}

func temporaryDirectory() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("cw-sinks-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

enum ComplianceApplicationFixture {
    /// An application with a fresh id.
    static func make(status: String, id: String = UUID().uuidString.lowercased()) -> ComplianceApplication {
        ComplianceApplication(
            id: id,
            alias: "acme",
            status: ApplicationStatus(status),
            endUserId: "f7ba78e0",
            endUserType: "business",
            countryISO2: "FR",
            numberType: "mobile",
            complianceRequirementId: "4ae473b0"
        )
    }
}
