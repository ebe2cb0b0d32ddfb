import Foundation

/// A compliance application (`/ComplianceApplication/`), the resource compliance-watch polls.
public struct ComplianceApplication: Sendable, Hashable, Decodable {
    /// `compliance_application_id`.
    public var id: String
    /// The operator's name for it.
    public var alias: String?
    /// Where it is in review; compared case-insensitively.
    public var status: ApplicationStatus
    /// Present only when Plivo gives one; `null`, `""` and a missing key are all `nil`.
    public var rejectionReason: String?
    /// The end user it is for.
    public var endUserId: String?
    /// `business` or `individual`.
    public var endUserType: String?
    /// The country, ISO 3166-1 alpha-2.
    public var countryISO2: String?
    /// The number type.
    public var numberType: String?
    /// The requirement it answers.
    public var complianceRequirementId: String?
    /// The proof documents attached.
    public var documents: [ApplicationDocument]
    /// When Plivo created it.
    public var createdAt: PlivoTimestamp?

    /// Creates an application value (tests, the sandbox's seeds).
    public init(
        id: String,
        alias: String? = nil,
        status: ApplicationStatus,
        rejectionReason: String? = nil,
        endUserId: String? = nil,
        endUserType: String? = nil,
        countryISO2: String? = nil,
        numberType: String? = nil,
        complianceRequirementId: String? = nil,
        documents: [ApplicationDocument] = [],
        createdAt: PlivoTimestamp? = nil
    ) {
        self.id = id
        self.alias = alias
        self.status = status
        self.rejectionReason = rejectionReason
        self.endUserId = endUserId
        self.endUserType = endUserType
        self.countryISO2 = countryISO2
        self.numberType = numberType
        self.complianceRequirementId = complianceRequirementId
        self.documents = documents
        self.createdAt = createdAt
    }

    enum CodingKeys: String, CodingKey {
        case id = "compliance_application_id"
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

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        // Strict where a default would invent a transition: an application without its id or
        // status, or with a document list that is not a list, makes the whole page malformed
        // (retried), never `unknown` or `[]`.
        id = try c.requiredString(.id)
        alias = c.lenientString(.alias)
        status = ApplicationStatus(try c.requiredString(.status))
        rejectionReason = c.lenientString(.rejectionReason)
        endUserId = c.lenientString(.endUserId)
        endUserType = c.lenientString(.endUserType)
        countryISO2 = c.lenientString(.countryISO2)
        numberType = c.lenientString(.numberType)
        complianceRequirementId = c.lenientString(.complianceRequirementId)
        documents = try c.decode([ApplicationDocument].self, forKey: .documents)
        createdAt = c.lenientTimestamp(.createdAt)
    }
}

/// A document attached to an application (`documents[]` on the application object).
public struct ApplicationDocument: Sendable, Hashable, Decodable {
    /// The document's id (required: an application with a document without one is malformed).
    public var documentId: String
    /// The requirement group, e.g. "Proof of Address".
    public var name: String?
    /// The operator's name for the document.
    public var documentName: String?
    /// The document type's id.
    public var documentTypeId: String?
    /// The document type's name.
    public var documentTypeName: String?
    /// Plivo's scope for the proof.
    public var scope: String?

    /// Creates a document reference.
    public init(
        documentId: String,
        name: String? = nil,
        documentName: String? = nil,
        documentTypeId: String? = nil,
        documentTypeName: String? = nil,
        scope: String? = nil
    ) {
        self.documentId = documentId
        self.name = name
        self.documentName = documentName
        self.documentTypeId = documentTypeId
        self.documentTypeName = documentTypeName
        self.scope = scope
    }

    enum CodingKeys: String, CodingKey {
        case documentId = "document_id"
        case name
        case documentName = "document_name"
        case documentTypeId = "document_type_id"
        case documentTypeName = "document_type_name"
        case scope
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        documentId = try c.requiredString(.documentId)
        name = c.lenientString(.name)
        documentName = c.lenientString(.documentName)
        documentTypeId = c.lenientString(.documentTypeId)
        documentTypeName = c.lenientString(.documentTypeName)
        scope = c.lenientString(.scope)
    }
}
