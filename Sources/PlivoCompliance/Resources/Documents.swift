import CurlHTTP
import Foundation

extension PlivoClient {
    /// A proof file to upload.
    public struct ProofFile: Sendable, Hashable {
        /// The name sent with the upload; Plivo keeps it as `file_name`.
        public var filename: String
        /// The proof's bytes.
        public var data: Data
        /// e.g. `application/pdf`; `nil` lets curl guess from the name.
        public var contentType: String?

        /// Creates a proof file.
        public init(filename: String, data: Data, contentType: String? = nil) {
            self.filename = filename
            self.data = data
            self.contentType = contentType
        }
    }

    /// Filters for listing documents.
    public struct DocumentFilter: Sendable, Hashable {
        /// Only this end user's.
        public var endUserId: String?
        /// Only this document type.
        public var documentTypeId: String?
        /// Only this alias.
        public var alias: String?

        /// Creates a filter.
        public init(endUserId: String? = nil, documentTypeId: String? = nil, alias: String? = nil) {
            self.endUserId = endUserId
            self.documentTypeId = documentTypeId
            self.alias = alias
        }
    }

    /// `/ComplianceDocument/`: multipart create and update, get, list and delete.
    public struct Documents: Sendable {
        let client: PlivoClient

        /// `POST /ComplianceDocument/` as `multipart/form-data`. Each metadata field is its own
        /// top-level form part (`business_name`, `address_line_1`, …), as Plivo expects.
        public func create(
            endUserId: String,
            documentTypeId: String,
            alias: String,
            metaInformation: [String: String] = [:],
            file: ProofFile? = nil
        ) async throws(PlivoError) -> ComplianceDocument {
            var fields = ["end_user_id": endUserId, "document_type_id": documentTypeId, "alias": alias]
            fields.merge(metaInformation) { current, _ in current }
            return try await client.decode(
                ComplianceDocument.self,
                .post,
                ["ComplianceDocument"],
                body: Self.multipart(fields, file: file)
            )
        }

        /// `POST /ComplianceDocument/{id}/` as multipart; only the given fields change.
        public func update(
            _ id: String,
            alias: String? = nil,
            metaInformation: [String: String] = [:],
            file: ProofFile? = nil
        ) async throws(PlivoError) -> UpdateResponse {
            var fields = metaInformation
            if let alias { fields["alias"] = alias }
            return try await client.decode(
                UpdateResponse.self,
                .post,
                ["ComplianceDocument", id],
                body: Self.multipart(fields, file: file)
            )
        }

        /// `GET /ComplianceDocument/{id}/`.
        public func get(_ id: String) async throws(PlivoError) -> ComplianceDocument {
            try await client.decode(ComplianceDocument.self, .get, ["ComplianceDocument", id])
        }

        /// `GET /ComplianceDocument/` for one page. `limit` must be 1…20.
        public func list(
            filter: DocumentFilter = DocumentFilter(),
            limit: Int = PlivoClient.maxPageSize,
            offset: Int = 0
        ) async throws(PlivoError) -> Page<ComplianceDocument> {
            try PlivoClient.checkPaging(limit: limit, offset: offset)
            return try await client.decode(
                Page<ComplianceDocument>.self,
                .get,
                ["ComplianceDocument"],
                query: [
                    ("limit", String(limit)), ("offset", String(offset)), ("end_user_id", filter.endUserId),
                    ("document_type_id", filter.documentTypeId), ("alias", filter.alias),
                ]
            )
        }

        /// Every document matching `filter`.
        public func all(filter: DocumentFilter = DocumentFilter()) -> PageSequence<ComplianceDocument> {
            PageSequence(pageSize: PlivoClient.maxPageSize, startOffset: 0) {
                [self] (limit, offset) throws(PlivoError) in
                try await list(filter: filter, limit: limit, offset: offset)
            }
        }

        /// `DELETE /ComplianceDocument/{id}/`.
        public func delete(_ id: String) async throws(PlivoError) {
            _ = try await client.send(.delete, ["ComplianceDocument", id])
        }

        private static func multipart(_ fields: [String: String], file: ProofFile?) -> HTTPRequest.Body {
            var parts = fields.sorted { $0.key < $1.key }.map { MultipartPart.field($0.key, $0.value) }
            if let file {
                parts.append(.file("file", filename: file.filename, data: file.data, contentType: file.contentType))
            }
            return .multipart(parts)
        }
    }

    /// `/ComplianceDocumentType/`: the catalogue, read-only.
    public struct DocumentTypes: Sendable {
        let client: PlivoClient

        /// `GET /ComplianceDocumentType/{id}/`.
        public func get(_ id: String) async throws(PlivoError) -> DocumentType {
            try await client.decode(DocumentType.self, .get, ["ComplianceDocumentType", id])
        }

        /// `GET /ComplianceDocumentType/` for one page. `limit` must be 1…20.
        public func list(
            limit: Int = PlivoClient.maxPageSize,
            offset: Int = 0
        ) async throws(PlivoError) -> Page<DocumentType> {
            try PlivoClient.checkPaging(limit: limit, offset: offset)
            return try await client.decode(
                Page<DocumentType>.self,
                .get,
                ["ComplianceDocumentType"],
                query: [("limit", String(limit)), ("offset", String(offset))]
            )
        }

        /// The whole catalogue.
        public func all() -> PageSequence<DocumentType> {
            PageSequence(pageSize: PlivoClient.maxPageSize, startOffset: 0) {
                [self] (limit, offset) throws(PlivoError) in
                try await list(limit: limit, offset: offset)
            }
        }
    }

    /// `/ComplianceRequirement/`: get by id, or look up the one that applies.
    public struct Requirements: Sendable {
        let client: PlivoClient

        /// `GET /ComplianceRequirement/{id}/`.
        public func get(_ id: String) async throws(PlivoError) -> ComplianceRequirement {
            try await client.decode(ComplianceRequirement.self, .get, ["ComplianceRequirement", id])
        }

        /// `GET /ComplianceRequirement/?country_iso2=&number_type=&end_user_type=`; Plivo answers with one object.
        public func lookup(
            countryISO2: String,
            numberType: String,
            endUserType: String
        ) async throws(PlivoError) -> ComplianceRequirement {
            try await client.decode(
                ComplianceRequirement.self,
                .get,
                ["ComplianceRequirement"],
                query: [("country_iso2", countryISO2), ("number_type", numberType), ("end_user_type", endUserType)]
            )
        }

        /// `GET /ComplianceRequirement/?phone_number=&end_user_type=`.
        public func lookup(phoneNumber: String, endUserType: String) async throws(PlivoError) -> ComplianceRequirement {
            try await client.decode(
                ComplianceRequirement.self,
                .get,
                ["ComplianceRequirement"],
                query: [("phone_number", phoneNumber), ("end_user_type", endUserType)]
            )
        }
    }
}
