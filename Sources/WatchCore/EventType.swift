/// What kind of transition an ``Event`` announces. The raw values are the wire names receivers
/// filter on, and part of every event id, so they never change.
public enum EventType: String, Sendable, Hashable, Codable, CaseIterable, CustomStringConvertible {
    /// First seen after the baseline (or during it, with `announce_existing`), or back after a
    /// confirmed deletion.
    case created = "compliance_application.created"
    /// The status moved.
    case statusChanged = "compliance_application.status_changed"
    /// Same status; the rejection reason or the documents changed.
    case updated = "compliance_application.updated"
    /// Confirmed gone by Plivo's 404 on two consecutive scans.
    case deleted = "compliance_application.deleted"

    /// The wire name.
    public var description: String { rawValue }
}
