import CurlHTTP
import Foundation
import Testing

@Suite("Retry-After")
struct RetryAfterTests {
    static let now = Date(timeIntervalSince1970: 1_700_000_000)  // Tue, 14 Nov 2023 22:13:20 GMT

    static func imf(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
        return formatter.string(from: date)
    }

    /// Value → expected delay (nil: rejected, the caller uses its own backoff).
    static let table: [(String, Duration?)] = [
        ("120", .seconds(120)),
        ("0", .zero),
        ("  7 ", .seconds(7)),
        ("1.5", .milliseconds(1500)),
        ("3600", .seconds(3600)),
        ("3601", .seconds(3600)),
        ("86400", .seconds(3600)),
        (String(repeating: "9", count: 400), .seconds(3600)),
        ("inf", nil),
        ("Infinity", nil),
        ("nan", nil),
        ("1e300", nil),
        ("1e3", nil),
        ("-5", nil),
        ("+5", nil),
        ("", nil),
        ("   ", nil),
        ("soon", nil),
        ("5s", nil),
        ("1.", nil),
        (".5", nil),
        (imf(now.addingTimeInterval(90)), .seconds(90)),
        (imf(now.addingTimeInterval(-600)), .zero),
        (imf(now.addingTimeInterval(7 * 86400)), .seconds(3600)),
        ("Sunday, 06-Nov-94 08:49:37 GMT", .zero),
        ("Sun Nov  6 08:49:37 1994", .zero),
        ("Tue, 14 Nov 2023 99:99:99 GMT", nil),
    ]

    @Test("every value in the table", arguments: table.indices)
    func value(_ index: Int) {
        let (raw, expected) = Self.table[index]
        #expect(RetryAfter.parse(raw, now: Self.now) == expected, "Retry-After: \(raw.debugDescription)")
    }

    @Test("a response reads its header through the same parser")
    func response() {
        #expect(HTTPResponse(status: 429, headers: HTTPHeaders([("retry-after", "inf")])).retryAfter() == nil)
        #expect(HTTPResponse(status: 429, headers: HTTPHeaders([("Retry-After", "1e300")])).retryAfter() == nil)
        #expect(
            HTTPResponse(status: 429, headers: HTTPHeaders([("Retry-After", "99999999")])).retryAfter()
                == RetryAfter.maximum
        )
        #expect(HTTPResponse(status: 429).retryAfter() == nil)
    }
}
