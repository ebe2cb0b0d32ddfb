import Foundation

/// Delivers events to one destination: a webhook, a file, a mailbox.
///
/// The contract:
/// - Returning means the event is durably handed over (written and fsync'd, a 2xx received,
///   the mail accepted). The dispatcher then marks the delivery done and never sends it again.
/// - Throwing ``DeliveryError`` means it was not; ``DeliveryError/disposition`` decides whether the
///   dispatcher tries again (honouring ``DeliveryError/retryAfter``), dead-letters it (never for an
///   audit trail), or holds the sink.
/// - Delivery is at least once: the same event (same `id`) may arrive twice after a crash, so
///   receivers deduplicate on `event.id`.
/// - The dispatcher may call `deliver` concurrently for events of *different* applications, and
///   never for two events of the same application at once.
public protocol Sink: Sendable {
    /// The sink's unique name from the configuration.
    var name: String { get }

    /// An audit trail must have no holes: its deliveries are never dead-lettered, only retried
    /// (with capped backoff) for as long as it takes, and an event it already holds is never
    /// appended again. Default `false`.
    var isAuditTrail: Bool { get }

    /// Hands `event` to the destination.
    /// - Throws: ``DeliveryError`` on failure.
    func deliver(_ event: Event) async throws(DeliveryError)
}

extension Sink {
    /// Not an audit trail, unless a sink says so.
    public var isAuditTrail: Bool { false }
}

/// Why a delivery failed, and what to do about it.
public struct DeliveryError: Error, Sendable, CustomStringConvertible {
    /// What the dispatcher should do next.
    public enum Disposition: Sendable, Equatable {
        /// Try again later (after `retryAfter` when given).
        case retry
        /// Give up on this delivery: dead-letter it.
        case final
        /// The receiver wants nothing more (a webhook's 410 Gone): hold this and every later
        /// delivery of the sink, pending, until a reload (SIGHUP) or restart enables it again.
        case disableSink
    }

    /// What went wrong, for `deliveries list` and the log; never a secret.
    public var message: String
    /// What the dispatcher does next.
    public var disposition: Disposition
    /// The delay the receiver asked for.
    public var retryAfter: Duration?

    /// Creates the error.
    public init(_ message: String, disposition: Disposition, retryAfter: Duration? = nil) {
        self.message = message
        self.disposition = disposition
        self.retryAfter = retryAfter
    }

    /// Worth trying again later.
    public static func retryable(_ message: String, retryAfter: Duration? = nil) -> DeliveryError {
        DeliveryError(message, disposition: .retry, retryAfter: retryAfter)
    }

    /// Will not succeed as it is: a dead letter.
    public static func final(_ message: String) -> DeliveryError {
        DeliveryError(message, disposition: .final)
    }

    /// Whether the dispatcher will try again.
    public var isRetryable: Bool { disposition == .retry }
    public var description: String { message }
}
