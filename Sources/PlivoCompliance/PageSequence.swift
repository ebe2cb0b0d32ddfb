/// Walks every page of a list, one element at a time, fetching pages lazily.
///
/// It stops after a page that has no `next`, or that is empty. Offsets advance by the number of
/// objects actually received, so a short page never skips anything.
public struct PageSequence<Element: Decodable & Sendable>: AsyncSequence, Sendable {
    public typealias Failure = PlivoError
    let pageSize: Int
    let startOffset: Int
    let fetch: @Sendable (_ limit: Int, _ offset: Int) async throws(PlivoError) -> Page<Element>

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

    /// Collects every element (convenient for small lists and tests).
    public func collect() async throws(PlivoError) -> [Element] {
        var result: [Element] = []
        var iterator = makeAsyncIterator()
        while let element = try await iterator.next() { result.append(element) }
        return result
    }
}
