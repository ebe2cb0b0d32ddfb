/// Bounded concurrency for API calls: at most `limit` in flight, results in input order.
///
/// Plivo counts requests per account, so a caller that fans out must bound how many run at
/// once; a task group with a sliding window does that without a semaphore.
public enum Concurrently {
    /// Maps `inputs` through `transform` with at most `limit` calls in flight. The first error
    /// cancels the calls still running and is rethrown; results keep input order.
    public static func map<Input: Sendable, Output: Sendable>(
        _ inputs: [Input],
        limit: Int,
        _ transform: @escaping @Sendable (Input) async throws(PlivoError) -> Output
    ) async throws(PlivoError) -> [Output] {
        guard !inputs.isEmpty else { return [] }
        do {
            return try await withThrowingTaskGroup(of: (Int, Output).self) { group in
                var results = [Output?](repeating: nil, count: inputs.count)
                var next = 0
                func launch() {
                    let index = next
                    let input = inputs[index]
                    group.addTask { (index, try await transform(input)) }
                    next += 1
                }
                while next < min(max(limit, 1), inputs.count) { launch() }
                while let (index, output) = try await group.next() {
                    results[index] = output
                    if next < inputs.count { launch() }
                }
                return results.map { $0! }
            }
        } catch let error as PlivoError {
            throw error
        } catch {
            // The group only rethrows what `transform` threw, or cancellation.
            throw PlivoError.cancelled()
        }
    }
}
