import Foundation

/// What a sandbox handler answers, before faults are applied.
struct Reply: Sendable, Error {
    var status: Int
    var body: JSON?
    var headers: [(String, String)] = []

    static func json(_ status: Int, _ body: JSON) -> Reply { Reply(status: status, body: body) }
    static let noContent = Reply(status: 204, body: nil)

    /// Plivo's error shape: `{"api_id": …, "error": …}`.
    static func error(_ status: Int, _ message: String) -> Reply {
        .json(status, .obj(("api_id", .string(randomId())), ("error", .string(message))))
    }

    static func notFound() -> Reply { .error(404, "not found") }
}

/// Formats dates the several ways Plivo does (shared/plivo-api.md §6).
enum Timestamp {
    private static let calendar: Calendar = {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        return calendar
    }()

    private static func parts(_ date: Date) -> (String, String, String) {
        let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
        let micros = Int((date.timeIntervalSince1970 - floor(date.timeIntervalSince1970)) * 1_000_000)
        return (
            String(format: "%04d-%02d-%02d", c.year!, c.month!, c.day!),
            String(format: "%02d:%02d:%02d", c.hour!, c.minute!, c.second!),
            String(format: "%06d", micros)
        )
    }

    /// `2021-02-08T19:32:33.240504+00:00` (applications)
    static func offset(_ date: Date) -> String {
        let (d, t, f) = parts(date)
        return "\(d)T\(t).\(f)+00:00"
    }
    /// `2022-06-06T05:33:12.075868Z` (documents, end users)
    static func zulu(_ date: Date) -> String {
        let (d, t, f) = parts(date)
        return "\(d)T\(t).\(f)Z"
    }
    /// `2018-11-03 19:32:33.240504+00:00` (document types)
    static func spaced(_ date: Date) -> String {
        let (d, t, f) = parts(date)
        return "\(d) \(t).\(f)+00:00"
    }
    /// `2021-02-02 08:08:10.312992 +0000 UTC` (document lists; Go's time.Time.String())
    static func go(_ date: Date) -> String {
        let (d, t, f) = parts(date)
        return "\(d) \(t).\(f) +0000 UTC"
    }
}
