import Foundation
import Testing
import WatchCore

@Suite("Formats written without Foundation's formatters")
struct TextFormatTests {
    @Test("RFC 3339 with milliseconds matches ISO8601DateFormatter on a spread of instants")
    func rfc3339() {
        let oracle = ISO8601DateFormatter()
        oracle.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        var generator = SystemRandomNumberGenerator()
        let instants =
            [0, 951_782_400, 1_709_164_799.999, 4_102_444_800.5]
            + (0..<500).map { _ in
                Double(Int.random(in: 0...4_000_000_000, using: &generator)) + Double(
                    Int.random(in: 0...999, using: &generator)
                ) / 1000
            }
        for seconds in instants {
            let date = Date(timeIntervalSince1970: seconds)
            #expect(TextFormat.rfc3339(date, milliseconds: true) == oracle.string(from: date), "\(seconds)")
        }
        #expect(TextFormat.rfc3339(Date(timeIntervalSince1970: 1_796_000_000)) == "2026-11-30T00:53:20Z")
    }

    @Test(
        "grouping and hex",
        arguments: [(0, "0"), (999, "999"), (1000, "1,000"), (12_345_678, "12,345,678"), (-4321, "-4,321")]
    )
    func grouped(value: Int, text: String) {
        #expect(TextFormat.grouped(value) == text)
    }

    @Test("hex is lowercase, two digits a byte")
    func hex() {
        #expect(TextFormat.hex([0x00, 0x0f, 0xa0, 0xff]) == "000fa0ff")
        #expect(TextFormat.hex([UInt8]()) == "")
    }

    @Test(
        "URLs: absolute http(s) with a host, no credentials",
        arguments: [
            ("https://hooks.example.com/x?y#z", nil), ("http://127.0.0.1:8080/hook", nil), ("https://[::1]:9/x", nil),
            ("HTTPS://Example.com", nil), ("ftp://example.com/", "must use https (or http), not ftp"),
            ("https://user:pw@example.com/", "credentials do not belong in the URL"),
            ("https:///path", "not an absolute http(s) URL"),
            ("example.com/hook", "not an absolute http(s) URL"),
            ("https://exa mple.com", "not an absolute http(s) URL"),
            ("", "not an absolute http(s) URL"), ("://host", "not an absolute http(s) URL"),
            ("https://:443/", "not an absolute http(s) URL"),
        ] as [(String, String?)]
    )
    func urls(url: String, problem: String?) {
        #expect(DaemonConfiguration.checkHTTPURL(url) == problem)
    }
}
