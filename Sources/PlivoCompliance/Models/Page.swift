/// One page of a list response: `{api_id, meta{…}, objects[…]}`.
public struct Page<Element: Decodable & Sendable>: Sendable, Decodable {
    /// Paging information.
    public struct Meta: Sendable, Hashable {
        /// The page size asked for.
        public var limit: Int
        /// Where this page starts.
        public var offset: Int
        /// How many objects match in all, when Plivo says.
        public var totalCount: Int?
        /// A relative URL, or `nil` on the last page (`null`, `""` and a missing key alike).
        public var next: String?
        /// A relative URL, or `nil` on the first page.
        public var previous: String?

        /// Creates paging information.
        public init(limit: Int, offset: Int, totalCount: Int?, next: String?, previous: String? = nil) {
            self.limit = limit
            self.offset = offset
            self.totalCount = totalCount
            self.next = next
            self.previous = previous
        }
    }

    /// Plivo's request id.
    public var apiId: String?
    /// Paging information.
    public var meta: Meta
    /// The page's objects, newest first.
    public var objects: [Element]

    enum CodingKeys: String, CodingKey {
        case apiId = "api_id"
        case meta, objects
    }
    enum MetaKeys: String, CodingKey {
        case limit, offset
        case totalCount = "total_count"
        case next, previous
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        apiId = c.lenientString(.apiId)
        // Objects must be a list; a page without one is malformed, not empty.
        objects = try c.decode([Element].self, forKey: .objects)
        let m = try? c.nestedContainer(keyedBy: MetaKeys.self, forKey: .meta)
        meta = Meta(
            limit: m?.lenientInt(.limit) ?? objects.count,
            offset: m?.lenientInt(.offset) ?? 0,
            totalCount: m?.lenientInt(.totalCount),
            next: m?.lenientString(.next),
            previous: m?.lenientString(.previous)
        )
    }

    /// Creates a page (tests).
    public init(apiId: String? = nil, meta: Meta, objects: [Element]) {
        self.apiId = apiId
        self.meta = meta
        self.objects = objects
    }
}

/// The `{api_id, message}` answer to an update.
public struct UpdateResponse: Sendable, Hashable, Decodable {
    /// Plivo's request id.
    public var apiId: String?
    /// Plivo's message, e.g. "changed".
    public var message: String?

    enum CodingKeys: String, CodingKey {
        case apiId = "api_id"
        case message
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        apiId = c.lenientString(.apiId)
        message = c.lenientString(.message)
    }
}
