extension PlivoClient {
    /// Filters for listing end users.
    public struct EndUserFilter: Sendable, Hashable {
        /// Only this name.
        public var name: String?
        /// Only this last name.
        public var lastName: String?
        /// Only this end-user type.
        public var endUserType: String?

        /// Creates a filter.
        public init(name: String? = nil, lastName: String? = nil, endUserType: String? = nil) {
            self.name = name
            self.lastName = lastName
            self.endUserType = endUserType
        }
    }

    /// `/EndUser/`: create, get, list, update and delete.
    public struct EndUsers: Sendable {
        let client: PlivoClient

        /// `POST /EndUser/`. `endUserType` is `individual` or `business`.
        public func create(
            name: String,
            lastName: String? = nil,
            endUserType: String
        ) async throws(PlivoError) -> EndUser {
            try await client.decode(
                EndUser.self,
                .post,
                ["EndUser"],
                body: PlivoClient.json(
                    .compact([
                        "name": .string(name), "last_name": lastName.map(JSONValue.string),
                        "end_user_type": .string(endUserType),
                    ])
                )
            )
        }

        /// `GET /EndUser/{id}/`.
        public func get(_ id: String) async throws(PlivoError) -> EndUser {
            try await client.decode(EndUser.self, .get, ["EndUser", id])
        }

        /// `GET /EndUser/` for one page. `limit` must be 1…20.
        public func list(
            filter: EndUserFilter = EndUserFilter(),
            limit: Int = PlivoClient.maxPageSize,
            offset: Int = 0
        ) async throws(PlivoError) -> Page<EndUser> {
            try PlivoClient.checkPaging(limit: limit, offset: offset)
            return try await client.decode(
                Page<EndUser>.self,
                .get,
                ["EndUser"],
                query: [
                    ("limit", String(limit)), ("offset", String(offset)), ("name", filter.name),
                    ("last_name", filter.lastName), ("end_user_type", filter.endUserType),
                ]
            )
        }

        /// Every end user matching `filter`.
        public func all(filter: EndUserFilter = EndUserFilter()) -> PageSequence<EndUser> {
            PageSequence(pageSize: PlivoClient.maxPageSize, startOffset: 0) {
                [self] (limit, offset) throws(PlivoError) in
                try await list(filter: filter, limit: limit, offset: offset)
            }
        }

        /// `POST /EndUser/{id}/`; only the given fields change.
        public func update(
            _ id: String,
            name: String? = nil,
            lastName: String? = nil,
            endUserType: String? = nil
        ) async throws(PlivoError) -> UpdateResponse {
            try await client.decode(
                UpdateResponse.self,
                .post,
                ["EndUser", id],
                body: PlivoClient.json(
                    .compact([
                        "name": name.map(JSONValue.string), "last_name": lastName.map(JSONValue.string),
                        "end_user_type": endUserType.map(JSONValue.string),
                    ])
                )
            )
        }

        /// `DELETE /EndUser/{id}/`.
        public func delete(_ id: String) async throws(PlivoError) {
            _ = try await client.send(.delete, ["EndUser", id])
        }
    }
}
