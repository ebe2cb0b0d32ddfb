/// A proof document (`/ComplianceDocument/`).
///
/// Lists call the id `compliance_document_id` and the file `file`; get and create call them
/// `document_id` and `file_name`. Both spellings decode into the same fields.
public struct ComplianceDocument: Sendable, Hashable, Decodable {
    /// The document's id.
    public var id: String
    /// Its document type.
    public var documentTypeId: String?
    /// The end user it belongs to.
    public var endUserId: String?
    /// The operator's name for it.
    public var alias: String?
    /// The uploaded proof's file name.
    public var fileName: String?
    /// The metadata fields, gathered by Plivo from the form parts.
    public var metaInformation: [String: String]
    /// When Plivo created it.
    public var createdAt: PlivoTimestamp?

    enum CodingKeys: String, CodingKey {
        case documentId = "document_id"
        case complianceDocumentId = "compliance_document_id"
        case fileName = "file_name"
        case file
        case documentTypeId = "document_type_id"
        case endUserId = "end_user_id"
        case alias
        case metaInformation = "meta_information"
        case createdAt = "created_at"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        id = c.lenientString(.documentId, .complianceDocumentId) ?? ""
        fileName = c.lenientString(.fileName, .file)
        documentTypeId = c.lenientString(.documentTypeId)
        endUserId = c.lenientString(.endUserId)
        alias = c.lenientString(.alias)
        metaInformation = c.lenientStringMap(.metaInformation)
        createdAt = c.lenientTimestamp(.createdAt)
    }
}
