/// Walks every page of a list, one element at a time, fetching pages lazily.
///
/// It stops after a page that has no `next`, or that is empty. Offsets advance by the number of
/// objects actually received, so a short page never skips anything.
///
/// ``collectPages(concurrency:_:)`` is the fast way through a long list: it reads the first
/// page for `total_count` and then the rest concurrently.
public struct PageSequence<Element: Decodable & Sendable>: AsyncSequence, Sendable {
    /// The error every page fetch throws.
    public typealias Failure = PlivoError
    /// Fetches one page: `limit` objects from `offset`.
    public typealias Fetch = @Sendable (_ limit: Int, _ offset: Int) async throws(PlivoError) -> Page<Element>
    let pageSize: Int
    let startOffset: Int
    let fetch: Fetch

    /// A sequence over pages that `fetch` returns; the client's `all(…)` methods build one.
    /// Wrap a client call in `fetch` to add rate limiting or retries around every page.
    public init(pageSize: Int = PlivoClient.maxPageSize, startOffset: Int = 0, fetch: @escaping Fetch) {
        self.pageSize = pageSize
        self.startOffset = startOffset
        self.fetch = fetch
    }

    /// An iterator from the sequence's first offset.
    public func makeAsyncIterator() -> Iterator {
        Iterator(sequence: self, offset: startOffset)
    }

    /// Iterates elements; throws ``PlivoError`` when a page cannot be fetched.
    public struct Iterator: AsyncIteratorProtocol {
        let sequence: PageSequence
        var offset: Int
        var buffer: [Element] = []
        var finished = false

        public mutating func next(isolation actor: isolated (any Actor)?) async throws(PlivoError) -> Element? {
            if buffer.isEmpty, !finished {
                let page = try await sequence.fetch(sequence.pageSize, offset)
                buffer = page.objects.reversed()
                offset += page.objects.count
                finished = page.objects.isEmpty || page.meta.next == nil
            }
            return buffer.popLast()
        }

        public mutating func next() async throws(PlivoError) -> Element? {
            try await next(isolation: nil)
        }
    }

    /// Every page, each turned into a value by `transform` as it arrives (so a caller that keeps
    /// only what it needs never holds every decoded page): the first page alone, for
    /// `total_count`, then the remaining offsets with up to `concurrency` fetches in flight.
    /// Without a `total_count` it follows `next` one page at a time. Results are in page order.
    ///
    /// Offset paging shifts while data changes, so an element can appear twice or not at all;
    /// callers that need certainty about absence must ask for the element itself.
    public func collectPages<T: Sendable>(
        concurrency: Int,
        _ transform: @escaping @Sendable (Page<Element>) -> T
    ) async throws(PlivoError) -> [T] {
        let first = try await fetch(pageSize, startOffset)
        var results = [transform(first)]
        guard first.meta.next != nil, !first.objects.isEmpty else { return results }
        guard let total = first.meta.totalCount else {
            var offset = startOffset + first.objects.count
            while true {
                let page = try await fetch(pageSize, offset)
                results.append(transform(page))
                offset += page.objects.count
                if page.objects.isEmpty || page.meta.next == nil { return results }
            }
        }
        let offsets = Array(stride(from: startOffset + first.objects.count, to: total, by: pageSize))
        let fetch = fetch
        let pageSize = pageSize
        results += try await Concurrently.map(offsets, limit: concurrency) { (offset) async throws(PlivoError) in
            transform(try await fetch(pageSize, offset))
        }
        return results
    }

    /// Collects every element (convenient for small lists and tests).
    public func collect() async throws(PlivoError) -> [Element] {
        var result: [Element] = []
        var iterator = makeAsyncIterator()
        while let element = try await iterator.next() { result.append(element) }
        return result
    }
}
