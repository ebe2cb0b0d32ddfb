/// An application's status, kept exactly as Plivo sent it and compared case-insensitively.
///
/// Unknown values such as `suspended` or `expired` are valid statuses, not errors.
public struct ApplicationStatus: Sendable, Hashable, Codable, CustomStringConvertible, ExpressibleByStringLiteral {
    /// The text as received, e.g. `"accepted"` or `"Accepted"`.
    public var rawValue: String

    /// Wraps a status string.
    public init(_ rawValue: String) { self.rawValue = rawValue }
    public init(stringLiteral value: String) { self.init(value) }

    public init(from decoder: any Decoder) throws {
        rawValue = try decoder.singleValueContainer().decode(String.self)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }

    /// The lowercased form that equality and hashing use.
    public var normalized: String { rawValue.lowercased() }

    public static func == (lhs: Self, rhs: Self) -> Bool { lhs.normalized == rhs.normalized }
    public func hash(into hasher: inout Hasher) { hasher.combine(normalized) }
    public var description: String { rawValue }

    /// Being prepared; documents can change.
    public static let draft: Self = "draft"
    /// Sent for review.
    public static let submitted: Self = "submitted"
    /// Approved: numbers can be activated.
    public static let accepted: Self = "accepted"
    /// Refused, with a reason; can be corrected and submitted again.
    public static let rejected: Self = "rejected"

    /// The statuses Plivo documents.
    public static let known: [Self] = [.draft, .submitted, .accepted, .rejected]

    /// Whether the status can still change without the operator acting: everything except
    /// `accepted`. Unknown statuses count as changeable, so they are watched closely.
    public var isSettled: Bool { self == .accepted }
}
