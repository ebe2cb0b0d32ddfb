import Foundation

/// Parses durations written as `250ms`, `10s`, `5m`, `6h` or `1d`; a bare number means seconds.
public func parseDuration(_ text: String) -> Duration? {
    let trimmed = text.trimmingCharacters(in: .whitespaces)
    let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600), ("d", 86400)]
    for (suffix, seconds) in units where trimmed.hasSuffix(suffix) {
        // "ms" is listed before "s", so "5ms" never reads as "5m" + "s".
        let number = trimmed.dropLast(suffix.count)
        guard let value = Double(number), value >= 0, value.isFinite else { return nil }
        return .milliseconds(Int64((value * seconds * 1000).rounded()))
    }
    guard let value = Double(trimmed), value >= 0, value.isFinite else { return nil }
    return .milliseconds(Int64((value * 1000).rounded()))
}
