/// What an application for one country, number type and end-user type must contain.
public struct ComplianceRequirement: Sendable, Hashable, Decodable {
    /// The requirement's id.
    public var id: String
    /// The country, ISO 3166-1 alpha-2.
    public var countryISO2: String?
    /// The number type it covers.
    public var numberType: String?
    /// `business` or `individual`.
    public var endUserType: String?
    /// The proofs needed: one document from each group.
    public var acceptableDocumentTypes: [Group]

    /// A requirement group: one of `acceptableDocuments` satisfies it.
    public struct Group: Sendable, Hashable, Decodable {
        /// What the group proves, e.g. "Proof of Address".
        public var name: String?
        /// Plivo's scope for the group.
        public var scope: String?
        /// Document types that satisfy the group.
        public var acceptableDocuments: [AcceptableDocument]

        enum CodingKeys: String, CodingKey {
            case name, scope
            case acceptableDocuments = "acceptable_documents"
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            name = c.lenientString(.name)
            scope = c.lenientString(.scope)
            acceptableDocuments = c.lenientArray(AcceptableDocument.self, .acceptableDocuments)
        }
    }

    /// A document type that satisfies a group.
    public struct AcceptableDocument: Sendable, Hashable, Decodable {
        /// The document type's id.
        public var documentTypeId: String
        /// The document type's name.
        public var documentTypeName: String?

        enum CodingKeys: String, CodingKey {
            case documentTypeId = "document_type_id"
            case documentTypeName = "document_type_name"
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            documentTypeId = c.lenientString(.documentTypeId) ?? ""
            documentTypeName = c.lenientString(.documentTypeName)
        }
    }

    enum CodingKeys: String, CodingKey {
        case id = "compliance_requirement_id"
        case countryISO2 = "country_iso2"
        case numberType = "number_type"
        case endUserType = "end_user_type"
        case acceptableDocumentTypes = "acceptable_document_types"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        id = c.lenientString(.id) ?? ""
        countryISO2 = c.lenientString(.countryISO2)
        numberType = c.lenientString(.numberType)
        endUserType = c.lenientString(.endUserType)
        acceptableDocumentTypes = c.lenientArray(Group.self, .acceptableDocumentTypes)
    }
}
