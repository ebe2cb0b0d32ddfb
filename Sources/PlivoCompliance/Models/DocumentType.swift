/// A document type from Plivo's catalogue (`/ComplianceDocumentType/`).
public struct DocumentType: Sendable, Hashable, Decodable {
    /// The document type's id.
    public var id: String
    /// Its name, e.g. "Utility Bill".
    public var documentName: String?
    public var description: String?
    /// The data fields a document of this type carries.
    public var information: [InformationField]
    /// Text in Plivo's examples, typed loosely by every SDK: kept as any JSON value.
    public var proofRequired: JSONValue?
    /// When Plivo created it.
    public var createdAt: PlivoTimestamp?

    enum CodingKeys: String, CodingKey {
        case id = "document_type_id"
        case documentName = "document_name"
        case description, information
        case proofRequired = "proof_required"
        case createdAt = "created_at"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        id = c.lenientString(.id) ?? ""
        documentName = c.lenientString(.documentName)
        description = c.lenientString(.description)
        information = c.lenientArray(InformationField.self, .information)
        proofRequired = try? c.decodeIfPresent(JSONValue.self, forKey: .proofRequired)
        createdAt = c.lenientTimestamp(.createdAt)
    }
}

/// One data field of a document type (`information[]`).
public struct InformationField: Sendable, Hashable, Decodable {
    /// The form field's key.
    public var fieldName: String
    /// `string`, `date`, `enum`, ….
    public var fieldType: String?
    /// A label for people.
    public var friendlyName: String?
    /// Guidance for filling it in.
    public var helpText: String?
    /// The shortest value accepted.
    public var minLength: Int?
    /// The longest value accepted.
    public var maxLength: Int?
    /// A format hint, e.g. a date pattern.
    public var format: String?
    /// The allowed values of an `enum` field.
    public var enums: [String]

    enum CodingKeys: String, CodingKey {
        case fieldName = "field_name"
        case fieldType = "field_type"
        case friendlyName = "friendly_name"
        case helpText = "help_text"
        case minLength = "min_length"
        case maxLength = "max_length"
        case format, enums
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        fieldName = c.lenientString(.fieldName) ?? ""
        fieldType = c.lenientString(.fieldType)
        friendlyName = c.lenientString(.friendlyName)
        helpText = c.lenientString(.helpText)
        minLength = c.lenientInt(.minLength)
        maxLength = c.lenientInt(.maxLength)
        format = c.lenientString(.format)
        enums = c.lenientArray(String.self, .enums)
    }
}
