/// An end user (`/EndUser/`): the person or business an application is for.
public struct EndUser: Sendable, Hashable, Decodable {
    /// `end_user_id`.
    public var id: String
    /// The business name, or the person's first name.
    public var name: String?
    /// The person's last name.
    public var lastName: String?
    /// `individual` or `business`, in whatever case Plivo stored.
    public var endUserType: String?
    /// When Plivo created it.
    public var createdAt: PlivoTimestamp?

    enum CodingKeys: String, CodingKey {
        case id = "end_user_id"
        case name
        case lastName = "last_name"
        case endUserType = "end_user_type"
        case createdAt = "created_at"
        case createdOn = "created_on"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        id = c.lenientString(.id) ?? ""
        name = c.lenientString(.name)
        lastName = c.lenientString(.lastName)
        endUserType = c.lenientString(.endUserType)
        // Plivo's own example once spelled it created_on.
        createdAt = c.lenientTimestamp(.createdAt) ?? c.lenientTimestamp(.createdOn)
    }
}
