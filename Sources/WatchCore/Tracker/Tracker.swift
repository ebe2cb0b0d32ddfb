import PlivoCompliance

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
    public static func classify(
        previous: Snapshot?, observed: Snapshot, baselineDone: Bool, announceExisting: Bool
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
        for status in stored.sorted(by: { $0.normalized < $1.normalized }) where !status.isSettled && !result.contains(status) {
            result.append(status)
        }
        return result
    }
}
