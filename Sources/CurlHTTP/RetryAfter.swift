import Foundation

/// The one `Retry-After` parser, for Plivo's 429s and for webhook receivers alike.
///
/// RFC 9110 §10.2.3 allows delta-seconds (`1*DIGIT`) or an HTTP-date. The header crosses
/// proxies and is written by strangers, so anything else (`inf`, `nan`, `1e300`, `-5`, a
/// number with a sign or exponent, an empty value) is rejected and the caller falls back to its
/// own backoff. What is accepted is clamped to ``maximum``, so no answer can park a retry loop
/// for longer than an hour.
public enum RetryAfter {
    /// The longest delay a server can ask for.
    public static let maximum: Duration = .seconds(3600)

    /// The delay `value` asks for, or `nil` when it is not a valid `Retry-After` value.
    /// - Parameters:
    ///   - value: The header's value.
    ///   - now: The time an HTTP-date is measured from; a date in the past means "now" (zero).
    public static func parse(_ value: String, now: Date = Date()) -> Duration? {
        let raw = String(value.trimmingWhitespace())
        guard !raw.isEmpty else { return nil }
        if let seconds = deltaSeconds(raw) { return clamp(seconds) }
        guard let date = httpDate(raw) else { return nil }
        return clamp(max(0, date.timeIntervalSince(now)))
    }

    /// `1*DIGIT`, tolerating a decimal fraction (`1.5`) as some servers send; never a sign or exponent.
    private static func deltaSeconds(_ raw: String) -> Double? {
        let parts = raw.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        guard let whole = parts.first, !whole.isEmpty, whole.allSatisfy(\.isASCIIDigit) else { return nil }
        if parts.count == 2, parts[1].isEmpty || !parts[1].allSatisfy(\.isASCIIDigit) { return nil }
        // Thousands of digits still make a finite Double or +inf; both end at the clamp.
        guard let seconds = Double(raw), !seconds.isNaN else { return nil }
        return seconds
    }

    private static func clamp(_ seconds: Double) -> Duration {
        let capped = min(seconds, Double(maximum.components.seconds))
        return .milliseconds(Int64((capped * 1000).rounded()))
    }

    /// IMF-fixdate, and the two obsolete forms RFC 9110 says recipients must accept.
    private static func httpDate(_ raw: String) -> Date? {
        for format in ["EEE, dd MMM yyyy HH:mm:ss zzz", "EEEE, dd-MMM-yy HH:mm:ss zzz", "EEE MMM d HH:mm:ss yyyy"] {
            let formatter = DateFormatter()
            formatter.locale = Locale(identifier: "en_US_POSIX")
            formatter.timeZone = TimeZone(identifier: "GMT")
            formatter.dateFormat = format
            if let date = formatter.date(from: raw) { return date }
        }
        return nil
    }
}

extension Character {
    fileprivate var isASCIIDigit: Bool { ("0"..."9").contains(self) }
}
