import CurlHTTP
import Foundation

/// Reads durations such as `500ms`, `30s`, `5m`, `6h`, `1d` or `1h30m`.
enum DurationParser {
    static func parse(_ text: String) -> Duration? {
        let units: [Character: Double] = ["s": 1, "m": 60, "h": 3600, "d": 86400]
        var total = 0.0, number = "", sawUnit = false
        let chars = Array(text.trimmingCharacters(in: .whitespaces))
        guard !chars.isEmpty else { return nil }
        var i = 0
        while i < chars.count {
            let c = chars[i]
            if c.isNumber || c == "." {
                number.append(c)
            } else {
                guard let value = Double(number) else { return nil }
                if c == "m", i + 1 < chars.count, chars[i + 1] == "s" {
                    total += value / 1000
                    i += 1
                } else if let unit = units[c] {
                    total += value * unit
                } else {
                    return nil
                }
                number = ""
                sawUnit = true
            }
            i += 1
        }
        guard number.isEmpty, sawUnit, total.isFinite, total >= 0 else { return nil }
        return .milliseconds(Int64((total * 1000).rounded()))
    }
}

extension DaemonConfiguration {
    /// Parses `500ms`, `30s`, `5m`, `6h`, `1d` or combinations such as `1h30m`.
    public static func parseDuration(_ text: String) -> Duration? { DurationParser.parse(text) }
}

extension DaemonConfiguration {
    /// Writes a duration the way the configuration file does: `500ms`, `30s`, `5m`, `6h`, `1h30m`.
    public static func formatDuration(_ duration: Duration) -> String {
        let ms = Int64(duration.inSeconds * 1000)
        if ms % 1000 != 0 { return "\(ms)ms" }
        var seconds = ms / 1000
        if seconds == 0 { return "0s" }
        var text = ""
        for (unit, size) in [("d", Int64(86400)), ("h", 3600), ("m", 60), ("s", 1)] where seconds >= size {
            text += "\(seconds / size)\(unit)"
            seconds %= size
        }
        return text
    }
}
