import Foundation

extension PlivoClient {
    /// Filters for listing applications; `nil` fields are not sent.
    public struct ApplicationFilter: Sendable, Hashable {
        /// Only this status (Plivo filters one status per request).
        public var status: ApplicationStatus?
        /// Only this end-user type.
        public var endUserType: String?
        /// Only this number type.
        public var numberType: String?
        /// Only this country.
        public var countryISO2: String?
        /// Only this alias.
        public var alias: String?
        /// Only this end user's.
        public var endUserId: String?

        /// Creates a filter.
        public init(
            status: ApplicationStatus? = nil,
            endUserType: String? = nil,
            numberType: String? = nil,
            countryISO2: String? = nil,
            alias: String? = nil,
            endUserId: String? = nil
        ) {
            self.status = status
            self.endUserType = endUserType
            self.numberType = numberType
            self.countryISO2 = countryISO2
            self.alias = alias
            self.endUserId = endUserId
        }

        var query: [(String, String?)] {
            [
                ("status", status?.rawValue), ("end_user_type", endUserType), ("number_type", numberType),
                ("country_iso2", countryISO2), ("alias", alias), ("end_user_id", endUserId),
            ]
        }
    }

    /// The two ways to name the requirement when creating an application.
    public enum RequirementReference: Sendable, Hashable {
        /// A `compliance_requirement_id` from a lookup.
        case id(String)
        /// Country, number type and end-user type; Plivo resolves the requirement.
        case lookup(countryISO2: String, numberType: String, endUserType: String)
    }

    /// `/ComplianceApplication/`: create, get, list, update, delete and submit.
    public struct Applications: Sendable {
        let client: PlivoClient

        /// `POST /ComplianceApplication/`. The answer is the new draft.
        public func create(
            alias: String,
            endUserId: String,
            documentIds: [String],
            requirement: RequirementReference
        ) async throws(PlivoError) -> ComplianceApplication {
            var fields: [String: JSONValue] = [
                "alias": .string(alias), "end_user_id": .string(endUserId),
                "document_ids": .array(documentIds.map(JSONValue.string)),
            ]
            switch requirement {
            case .id(let id):
                fields["compliance_requirement_id"] = .string(id)
            case .lookup(let country, let numberType, let endUserType):
                fields["country_iso2"] = .string(country)
                fields["number_type"] = .string(numberType)
                fields["end_user_type"] = .string(endUserType.lowercased())
            }
            return try await client.decode(
                ComplianceApplication.self,
                .post,
                ["ComplianceApplication"],
                body: PlivoClient.json(fields)
            )
        }

        /// `GET /ComplianceApplication/{id}/`. A deleted application throws with ``PlivoError/isNotFound``.
        public func get(_ id: String) async throws(PlivoError) -> ComplianceApplication {
            try await client.decode(ComplianceApplication.self, .get, ["ComplianceApplication", id])
        }

        /// `GET /ComplianceApplication/` for one page. `limit` must be 1…20.
        public func list(
            filter: ApplicationFilter = ApplicationFilter(),
            limit: Int = PlivoClient.maxPageSize,
            offset: Int = 0
        ) async throws(PlivoError) -> Page<ComplianceApplication> {
            try PlivoClient.checkPaging(limit: limit, offset: offset)
            // A status list is asked for again and again and mostly answers the same objects:
            // those are not decoded twice (see RepeatDecoder). A full list is read once per sync.
            let repeatDecoder = filter.status == nil ? nil : client.statusListDecoder
            return try await client.decode(
                Page<ComplianceApplication>.self,
                .get,
                ["ComplianceApplication"],
                query: [("limit", String(limit)), ("offset", String(offset))] + filter.query,
                decoder: repeatDecoder.map { decoder in { try decoder.decodePage($0) } }
            )
        }

        /// Every application matching `filter`, page by page.
        public func all(
            filter: ApplicationFilter = ApplicationFilter(),
            pageSize: Int = PlivoClient.maxPageSize
        ) -> PageSequence<ComplianceApplication> {
            PageSequence(pageSize: pageSize, startOffset: 0) { [self] (limit, offset) throws(PlivoError) in
                try await list(filter: filter, limit: limit, offset: offset)
            }
        }

        /// `POST /ComplianceApplication/{id}/` to replace the documents. Plivo allows it in draft and rejected.
        public func update(_ id: String, documentIds: [String]) async throws(PlivoError) -> UpdateResponse {
            try await client.decode(
                UpdateResponse.self,
                .post,
                ["ComplianceApplication", id],
                body: PlivoClient.json(["document_ids": .array(documentIds.map(JSONValue.string))])
            )
        }

        /// `DELETE /ComplianceApplication/{id}/`.
        public func delete(_ id: String) async throws(PlivoError) {
            _ = try await client.send(.delete, ["ComplianceApplication", id])
        }

        /// `POST /ComplianceApplication/{id}/Submit/` with `{}`, as Plivo requires a JSON body.
        /// Returns the application, now `submitted`.
        public func submit(_ id: String) async throws(PlivoError) -> ComplianceApplication {
            try await client.decode(
                ComplianceApplication.self,
                .post,
                ["ComplianceApplication", id, "Submit"],
                body: PlivoClient.json([:])
            )
        }
    }
}
