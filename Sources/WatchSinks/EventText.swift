import PlivoCompliance
import WatchCore

/// How an event reads to a person; chat and mail renderers build on it.
///
/// Values that came from the API (alias, reason, names) are returned raw: each renderer escapes
/// them for its own format.
public struct EventText: Sendable {
    /// The event described.
    public let event: Event

    /// Describes `event`.
    public init(_ event: Event) { self.event = event }

    var application: EventApplication { event.data.application }

    /// The alias, or the id when there is none.
    public var name: String { application.alias ?? application.complianceApplicationId }

    /// "FR · mobile · business", from what is known.
    public var scope: String {
        [application.countryISO2, application.numberType, application.endUserType].compactMap { $0 }.joined(
            separator: " · "
        )
    }

    /// One symbol for the headline, by event type and then by the new status.
    public var emoji: String {
        switch (event.type, event.toStatus) {
        case (.deleted, _): "🗑️"
        case (.updated, _): "✏️"
        case (_, .accepted): "✅"
        case (_, .rejected): "❌"
        case (_, .submitted): "📨"
        case (_, .draft): "📝"
        default: "ℹ️"
        }
    }

    /// What happened, without the name: "accepted", "rejected: <reason>", "created (draft)".
    public var verb: String {
        switch event.type {
        case .created: return "created (\(event.toStatus))"
        case .deleted: return "deleted"
        case .updated:
            if let reason = application.rejectionReason { return "updated: \(reason)" }
            return "updated (documents changed)"
        case .statusChanged:
            if event.toStatus == .rejected, let reason = application.rejectionReason { return "rejected: \(reason)" }
            return event.toStatus.rawValue
        }
    }

    /// "submitted → accepted", or the status alone when there was no previous one.
    public var transition: String {
        guard let from = event.fromStatus, event.type == .statusChanged else { return event.toStatus.rawValue }
        return "\(from) → \(event.toStatus)"
    }

    /// Label/value pairs shown under the headline.
    public var facts: [(String, String)] {
        var facts: [(String, String)] = [("Status", transition)]
        if let reason = application.rejectionReason { facts.append(("Reason", reason)) }
        if !scope.isEmpty { facts.append(("Scope", scope)) }
        facts.append(("Application", application.complianceApplicationId))
        facts.append(("Account", event.account))
        facts.append(("Event", event.id))
        return facts
    }
}
