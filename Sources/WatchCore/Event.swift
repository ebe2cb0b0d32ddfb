import Foundation
import PlivoCompliance

/// The application as it appears in events: Plivo's fields, snake_case, stable order.
public struct EventApplication: Sendable, Equatable, Codable {
    /// The application's id (`compliance_application_id`).
    public var complianceApplicationId: String
    /// The operator's name for it, when set.
    public var alias: String?
    /// The status as Plivo sent it (compared case-insensitively).
    public var status: ApplicationStatus
    /// Why Plivo rejected it (`rejected` only).
    public var rejectionReason: String?
    /// The end user the application is for.
    public var endUserId: String?
    /// `business` or `individual`.
    public var endUserType: String?
    /// The country of the numbers, ISO 3166-1 alpha-2.
    public var countryISO2: String?
    /// `local`, `mobile`, `tollfree`, ….
    public var numberType: String?
    /// The compliance requirement it answers.
    public var complianceRequirementId: String?
    /// The proof documents attached.
    public var documents: [Document]
    /// When Plivo created it, as Plivo wrote it.
    public var createdAt: String?

    /// A document reference in an event.
    public struct Document: Sendable, Equatable, Codable {
        /// The document's id.
        public var documentId: String
        /// The requirement's name for the proof (e.g. "Proof of Address").
        public var name: String?
        /// The operator's name for the document.
        public var documentName: String?
        /// The document type's id.
        public var documentTypeId: String?
        /// The document type's name.
        public var documentTypeName: String?

        enum CodingKeys: String, CodingKey {
            case documentId = "document_id"
            case name
            case documentName = "document_name"
            case documentTypeId = "document_type_id"
            case documentTypeName = "document_type_name"
        }
    }

    enum CodingKeys: String, CodingKey {
        case complianceApplicationId = "compliance_application_id"
        case alias, status
        case rejectionReason = "rejection_reason"
        case endUserId = "end_user_id"
        case endUserType = "end_user_type"
        case countryISO2 = "country_iso2"
        case numberType = "number_type"
        case complianceRequirementId = "compliance_requirement_id"
        case documents
        case createdAt = "created_at"
    }

    /// The event form of an application from the API.
    public init(_ application: ComplianceApplication) {
        complianceApplicationId = application.id
        alias = application.alias
        status = application.status
        rejectionReason = application.rejectionReason
        endUserId = application.endUserId
        endUserType = application.endUserType
        countryISO2 = application.countryISO2
        numberType = application.numberType
        complianceRequirementId = application.complianceRequirementId
        documents = application.documents.map {
            Document(
                documentId: $0.documentId,
                name: $0.name,
                documentName: $0.documentName,
                documentTypeId: $0.documentTypeId,
                documentTypeName: $0.documentTypeName
            )
        }
        createdAt = application.createdAt?.raw
    }

    /// Sorted-key JSON, the form stored and compared between polls.
    public func canonicalJSON() -> String {
        (try? Event.canonicalEncoder().encode(self)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }

    /// Encodes `null` for absent optional fields, so every event has the same keys.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(complianceApplicationId, forKey: .complianceApplicationId)
        try c.encode(alias, forKey: .alias)
        try c.encode(status, forKey: .status)
        try c.encode(rejectionReason, forKey: .rejectionReason)
        try c.encode(endUserId, forKey: .endUserId)
        try c.encode(endUserType, forKey: .endUserType)
        try c.encode(countryISO2, forKey: .countryISO2)
        try c.encode(numberType, forKey: .numberType)
        try c.encode(complianceRequirementId, forKey: .complianceRequirementId)
        try c.encode(documents, forKey: .documents)
        try c.encode(createdAt, forKey: .createdAt)
    }
}

/// One detected transition: the canonical body that every sink renders from.
///
/// `id` is stable: derived from the database's salt, the account, the application, the
/// application's event count and the transition, and stored with the event, so every retry and
/// replay carries the same id (see ``makeId(salt:account:applicationId:version:transition:)``).
public struct Event: Sendable, Equatable, Codable {
    /// `evt_` and 32 hex digits; stable across retries (see ``makeId(salt:account:applicationId:version:transition:)``).
    public var id: String { didSet { recorded = nil } }
    /// What happened.
    public var type: EventType { didSet { recorded = nil } }
    /// When the event was recorded, RFC 3339 with milliseconds.
    public var timestamp: String { didSet { recorded = nil } }
    /// The Plivo account (auth id).
    public var account: String { didSet { recorded = nil } }
    /// The application and what it was before.
    public var data: Payload { didSet { recorded = nil } }
    /// `true` on a synthetic event from `compliance-watch test-sink` (its id starts `evt_test_`);
    /// absent from real events. Receivers should ignore test events.
    public var test: Bool? { didSet { recorded = nil } }
    /// The bytes the event was read from (the store's commit, an audit line): what
    /// ``canonicalJSON()`` returns, so the bytes committed are the bytes signed, sent and
    /// appended, never a re-encoding. Any change to a field drops them.
    var recorded: Data?

    enum CodingKeys: String, CodingKey { case id, type, timestamp, account, data, test }

    public static func == (lhs: Event, rhs: Event) -> Bool {
        lhs.id == rhs.id && lhs.type == rhs.type && lhs.timestamp == rhs.timestamp && lhs.account == rhs.account
            && lhs.data == rhs.data && lhs.test == rhs.test
    }

    /// `data`.
    public struct Payload: Sendable, Equatable, Codable {
        /// The application as now observed (as last seen, for `deleted`).
        public var application: EventApplication
        /// The stored state before the change; `nil` for `created` of a new id.
        public var previous: Previous?
        /// When the poller saw the change, RFC 3339 with milliseconds.
        public var detectedAt: String

        enum CodingKeys: String, CodingKey {
            case application, previous
            case detectedAt = "detected_at"
        }

        /// Creates the payload.
        public init(application: EventApplication, previous: Previous?, detectedAt: String) {
            self.application = application
            self.previous = previous
            self.detectedAt = detectedAt
        }

        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(application, forKey: .application)
            try c.encode(previous, forKey: .previous)
            try c.encode(detectedAt, forKey: .detectedAt)
        }
    }

    /// `data.previous`: the stored state before the change (`null` for `created`).
    public struct Previous: Sendable, Equatable, Codable {
        /// The stored status, or `deleted` for an application that came back.
        public var status: ApplicationStatus
        /// The rejection reason then, if any.
        public var rejectionReason: String?

        enum CodingKeys: String, CodingKey {
            case status
            case rejectionReason = "rejection_reason"
        }

        /// Creates the previous state.
        public init(status: ApplicationStatus, rejectionReason: String?) {
            self.status = status
            self.rejectionReason = rejectionReason
        }

        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(status, forKey: .status)
            try c.encode(rejectionReason, forKey: .rejectionReason)
        }
    }

    /// Creates an event; the store gives it its id when it is recorded.
    public init(id: String, type: EventType, timestamp: String, account: String, data: Payload) {
        self.id = id
        self.type = type
        self.timestamp = timestamp
        self.account = account
        self.data = data
    }

    /// The stable id of one transition: the database's random salt, the account, the
    /// application, its event count and the transition itself (`type:from>to`).
    ///
    /// Retries, redelivery and a commit lost in a power cut (re-recorded with the same count and
    /// transition) keep the id; another database, or another transition at the same count (after
    /// a lost commit, or an id that vanished and came back), never gets it.
    public static func makeId(
        salt: String,
        account: String,
        applicationId: String,
        version: Int,
        transition: String
    ) -> String {
        "evt_" + Hashing.sha256Hex("\(salt)/\(account)/\(applicationId)/\(version)/\(transition)").prefix(32)
    }

    /// `type:from>to`, the transition part of an event id.
    public static func transition(type: EventType, from: ApplicationStatus?, to: ApplicationStatus) -> String {
        "\(type.rawValue):\(from?.rawValue ?? "")>\(to.rawValue)"
    }

    /// The canonical JSON: sorted keys, no escaped slashes. Sinks sign and store exactly these bytes.
    public func canonicalJSON() -> Data {
        recorded ?? (try? Event.canonicalEncoder().encode(self)) ?? Data("{}".utf8)
    }

    /// Sorted keys, no escaped slashes: the one encoding for everything stored, signed or compared.
    static func canonicalEncoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }

    /// Parses canonical JSON back; ``canonicalJSON()`` then returns `data` itself.
    public static func decode(_ data: Data) throws -> Event {
        var event = try JSONDecoder().decode(Event.self, from: data)
        event.recorded = data
        return event
    }

    /// The application's status before (for status changes) and now.
    public var fromStatus: ApplicationStatus? { data.previous?.status }
    /// The application's status now (`deleted` is not a status: see ``type``).
    public var toStatus: ApplicationStatus { data.application.status }
}

/// RFC 3339 UTC with milliseconds, as events use.
public enum EventTime {
    /// `date` as `2026-11-30T09:00:00.123Z`.
    public static func format(_ date: Date) -> String {
        TextFormat.rfc3339(date, milliseconds: true)
    }
}
