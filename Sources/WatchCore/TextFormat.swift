import Foundation

/// Number and time formats for status lines, logs, events and hashes, written without
/// Foundation's formatters: those load ICU's locale data on first use, which costs megabytes
/// of resident memory and milliseconds per call in a daemon that formats on every cycle.
public enum TextFormat {
    /// `12345678` as `12,345,678`.
    public static func grouped(_ value: Int) -> String {
        let digits = String(value.magnitude)
        var result = ""
        for (index, digit) in digits.enumerated() {
            if index > 0, (digits.count - index) % 3 == 0 { result.append(",") }
            result.append(digit)
        }
        return (value < 0 ? "-" : "") + result
    }

    /// `HH:mm:ss` in the local time zone.
    public static func clockTime(_ date: Date) -> String {
        var seconds = time_t(date.timeIntervalSince1970.rounded(.down))
        var parts = tm()
        localtime_r(&seconds, &parts)
        return "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2))"
    }

    /// RFC 3339 in UTC: `2026-11-30T09:00:00Z`, or with `.123` milliseconds.
    public static func rfc3339(_ date: Date, milliseconds: Bool = false) -> String {
        // Whole milliseconds first, so .277 stored as .27699… still prints .277.
        let totalMilliseconds = Int64((date.timeIntervalSince1970 * 1000).rounded())
        let (quotient, remainder) = totalMilliseconds.quotientAndRemainder(dividingBy: 1000)
        let (wholeSeconds, millis) = remainder < 0 ? (quotient - 1, remainder + 1000) : (quotient, remainder)
        var seconds = time_t(milliseconds ? wholeSeconds : Int64(date.timeIntervalSince1970.rounded(.down)))
        var parts = tm()
        gmtime_r(&seconds, &parts)
        var text =
            "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T"
            + "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2))"
        if milliseconds { text += "." + pad(Int32(millis), 3) }
        return text + "Z"
    }

    /// Lowercase hex of `bytes`.
    public static func hex(_ bytes: some Sequence<UInt8>) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var result: [UInt8] = []
        for byte in bytes {
            result.append(digits[Int(byte >> 4)])
            result.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: result, as: UTF8.self)
    }

    private static func pad(_ value: Int32, _ width: Int) -> String {
        let text = String(value)
        return text.count >= width ? text : String(repeating: "0", count: width - text.count) + text
    }
}
