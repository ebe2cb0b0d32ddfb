import Foundation
import CurlHTTP

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
    /// The instant, when ``raw`` is in a recognised form; parsed on each use, since a poll
    /// decodes thousands of applications and reads almost none of their dates.
    public var date: Date? { PlivoTimestamp.parse(raw) }

    /// Keeps `raw`.
    public init(raw: String) {
        self.raw = raw
    }

    public var description: String { raw }

    /// Parses the forms listed on the type; returns `nil` for anything else.
    public static func parse(_ text: String) -> Date? {
        var s = String(text.trimmingWhitespace())
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
        let (year, month, day) = (parts[0], parts[1], parts[2])
        guard (1...12).contains(month), day >= 1, day <= daysIn(month: month, year: year),
            (0..<24).contains(time[0]), (0..<60).contains(time[1]), (0...60).contains(time[2])
        else { return nil }
        let seconds =
            daysFromCivil(year: year, month: month, day: day) * 86_400 + time[0] * 3600 + time[1] * 60 + time[2]
        return Date(timeIntervalSince1970: Double(seconds) + fraction - Double(offsetSeconds))
    }

    /// Days since 1970-01-01 in the proleptic Gregorian calendar (Howard Hinnant's algorithm):
    /// no Calendar, so no ICU on the decode path.
    static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }
}
