import PlivoCompliance

/// The fields change detection compares: a stored ``Snapshot``, the store's compact
/// ``TrackedApplication``, or an observed application.
public protocol TrackedFields {
    /// The status.
    var status: ApplicationStatus { get }
    /// The rejection reason.
    var rejectionReason: String? { get }
    /// Sorted document ids.
    var documentIds: [String] { get }
}

/// The business rules of change detection: a pure function of what was stored and what was
/// observed. No I/O, no clock: the poller does the side effects.
public enum Tracker {
    /// What one observation means.
    public enum Change: Sendable, Equatable {
        /// Nothing an operator cares about changed (a status that differs only in case included).
        case unchanged
        /// First seen during the silent baseline: store it, announce nothing.
        case baseline
        /// Appeared after the baseline (or during it, with `announce_existing`).
        case created
        /// The status moved, as observed: a missed intermediate status is not invented.
        case statusChanged(from: ApplicationStatus, to: ApplicationStatus)
        /// Same status, but the rejection reason or the documents changed.
        case updated
        /// Confirmed gone: a direct GET answered 404.
        case deleted

        /// The event type it produces, if any.
        public var eventType: EventType? {
            switch self {
            case .unchanged, .baseline: nil
            case .created: .created
            case .statusChanged: .statusChanged
            case .updated: .updated
            case .deleted: .deleted
            }
        }
    }

    /// Classifies an observed application against the stored snapshot.
    /// - Parameters:
    ///   - previous: The stored snapshot, `nil` if never seen.
    ///   - observed: The snapshot built from what Plivo returned.
    ///   - baselineDone: Whether the account's first full sync has been committed.
    ///   - announceExisting: Whether the baseline announces what it finds.
    public static func classify<Previous: TrackedFields, Observed: TrackedFields>(
        previous: Previous?,
        observed: Observed,
        baselineDone: Bool,
        announceExisting: Bool
    ) -> Change {
        guard let previous else {
            return baselineDone || announceExisting ? .created : .baseline
        }
        if previous.status != observed.status {
            return .statusChanged(from: previous.status, to: observed.status)
        }
        if previous.rejectionReason != observed.rejectionReason || previous.documentIds != observed.documentIds {
            return .updated
        }
        return .unchanged
    }

    /// The status-filter values to poll often: Plivo's changeable statuses plus any unknown
    /// status currently stored (e.g. `suspended`), since those may change too.
    public static func hotStatuses(stored: Set<ApplicationStatus>) -> [ApplicationStatus] {
        var result: [ApplicationStatus] = [.draft, .submitted, .rejected]
        for status in stored.sorted(by: { $0.normalized < $1.normalized })
        where !status.isSettled && !result.contains(status) {
            result.append(status)
        }
        return result
    }
}
