import Foundation

/// A timestamp as Plivo sent it, plus the parsed date when the form is recognised.
///
/// Real responses use at least five forms (see shared/plivo-api.md §6):
/// `2022-06-06T05:33:12.075868Z`, `2021-02-08T05:28:49.238152984Z`,
/// `2021-02-08T19:32:33.240504+00:00`, `2018-11-03 19:32:33.240504+00:00` and Go's
/// `2021-02-02 08:08:10.312992 +0000 UTC`. Parsing never fails a decode: an unknown form keeps
/// ``raw`` and leaves ``date`` `nil`.
public struct PlivoTimestamp: Sendable, Hashable, CustomStringConvertible {
    /// The text exactly as received.
    public var raw: String
    /// The instant, when ``raw`` is in a recognised form.
    public var date: Date?

    /// Parses `raw`.
    public init(raw: String) {
        self.raw = raw
        self.date = PlivoTimestamp.parse(raw)
    }

    public var description: String { raw }

    /// Parses the forms listed on the type; returns `nil` for anything else.
    public static func parse(_ text: String) -> Date? {
        var s = text.trimmingCharacters(in: .whitespaces)
        // Go's time.Time.String(): "2021-02-02 08:08:10.312992 +0000 UTC"
        if s.hasSuffix(" UTC") { s.removeLast(4) }
        s = s.replacingOccurrences(of: " +", with: "+").replacingOccurrences(of: " -", with: "-")
        guard s.count >= 19 else { return nil }
        let dateEnd = s.index(s.startIndex, offsetBy: 10)
        guard s[dateEnd] == "T" || s[dateEnd] == " " else { return nil }
        let datePart = s[..<dateEnd]
        var rest = s[s.index(after: dateEnd)...]
        let timePart = rest.prefix(8)
        rest = rest.dropFirst(8)

        var fraction = 0.0
        if rest.first == "." {
            let digits = rest.dropFirst().prefix { $0.isNumber }
            guard !digits.isEmpty else { return nil }
            fraction = Double("0." + digits) ?? 0
            rest = rest.dropFirst(1 + digits.count)
        }
        var offsetSeconds = 0
        if rest == "Z" || rest.isEmpty {
            offsetSeconds = 0
        } else if let sign = rest.first, sign == "+" || sign == "-" {
            let digits = rest.dropFirst().filter { $0 != ":" }
            guard digits.count == 4, let hh = Int(digits.prefix(2)), let mm = Int(digits.suffix(2)) else { return nil }
            offsetSeconds = (hh * 3600 + mm * 60) * (sign == "-" ? -1 : 1)
        } else {
            return nil
        }

        let parts = datePart.split(separator: "-").compactMap { Int($0) }
        let time = timePart.split(separator: ":").compactMap { Int($0) }
        guard parts.count == 3, time.count == 3 else { return nil }
        var components = DateComponents()
        components.year = parts[0]
        components.month = parts[1]
        components.day = parts[2]
        components.hour = time[0]
        components.minute = time[1]
        components.second = time[2]
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        guard let base = calendar.date(from: components),
              calendar.component(.day, from: base) == parts[2] else { return nil }
        return base.addingTimeInterval(fraction - Double(offsetSeconds))
    }
}
