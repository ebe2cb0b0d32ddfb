import PlivoCompliance

/// Why a poll cycle committed nothing. The watcher decides on the case: the API is retried
/// with backoff, the store is reported as the local fault it is, and cancellation ends the loop.
public enum CycleError: Error, Sendable, CustomStringConvertible {
    /// Plivo (or what stands in front of it) gave no usable answer to anything the cycle asked.
    case api(PlivoError)
    /// The state store could not be read or written; nothing was committed.
    case store(any Error)
    /// The task was cancelled (shutdown); nothing was committed.
    case cancelled

    /// The delay Plivo asked for, if any.
    public var retryAfter: Duration? {
        if case .api(let error) = self { error.retryAfter } else { nil }
    }

    /// One bounded line for logs.
    public var description: String {
        switch self {
        case .api(let error): error.description
        case .store(let error): PlivoError.bounded("state database: \(error)")
        case .cancelled: "cancelled"
        }
    }

    /// A few words for the status line.
    public var short: String {
        switch self {
        case .api(let error): "API unreachable (\(error.status.map { "HTTP \($0)" } ?? error.kind.rawValue))"
        case .store: "state database error"
        case .cancelled: "cancelled"
        }
    }
}
