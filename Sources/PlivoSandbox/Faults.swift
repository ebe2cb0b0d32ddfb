import Foundation

/// Fault injection settings, set at start or through `POST /_sandbox/faults`. Rates are 0…1
/// probabilities per Plivo API request; control endpoints are never faulted.
public struct Faults: Sendable, Equatable {
    /// Added before every answer.
    public var latencyMs: Int = 0
    /// Share of requests answered 429.
    public var rate429: Double = 0
    /// `Retry-After` seconds on injected 429s; `nil` sends none (as real Plivo does).
    public var retryAfterSeconds: Int? = nil
    /// Share answered 500.
    public var rate500: Double = 0
    /// Share of successful answers whose body is replaced by broken JSON.
    public var malformedRate: Double = 0
    /// Share whose body is cut short, with the connection closed.
    public var truncateRate: Double = 0
    /// Share whose connection is closed without any answer.
    public var dropRate: Double = 0

    /// No faults.
    public init() {}

    /// Reads the `/_sandbox/faults` body; missing keys are 0.
    init(json: JSON) {
        latencyMs = Int(json["latency_ms"]?.double ?? 0)
        rate429 = json["rate_429"]?.double ?? 0
        retryAfterSeconds = json["retry_after_s"]?.double.map { Int($0) }
        rate500 = json["rate_500"]?.double ?? 0
        malformedRate = json["malformed_rate"]?.double ?? 0
        truncateRate = json["truncate_rate"]?.double ?? 0
        dropRate = json["drop_rate"]?.double ?? 0
    }

    var json: JSON {
        .obj(
            ("latency_ms", .int(latencyMs)), ("rate_429", .double(rate429)),
            ("retry_after_s", retryAfterSeconds.map(JSON.int) ?? .null), ("rate_500", .double(rate500)),
            ("malformed_rate", .double(malformedRate)), ("truncate_rate", .double(truncateRate)),
            ("drop_rate", .double(dropRate)))
    }
}

/// Plivo's account limit: at most `limit` requests in any `window`, per account (a sliding log).
struct RateLimiter: Sendable {
    var limit: Int
    var window: Duration
    private var log: [String: [ContinuousClock.Instant]] = [:]

    init(limit: Int, window: Duration) {
        self.limit = limit
        self.window = window
    }

    /// Records a request if it fits; returns `false` when the account is over its limit.
    mutating func admit(_ account: String, now: ContinuousClock.Instant = .now) -> Bool {
        guard limit > 0 else { return true }
        var entries = log[account, default: []]
        let cutoff = now - window
        if let firstKept = entries.firstIndex(where: { $0 > cutoff }) {
            entries.removeFirst(firstKept)
        } else {
            entries.removeAll()
        }
        guard entries.count < limit else {
            log[account] = entries
            return false
        }
        entries.append(now)
        log[account] = entries
        return true
    }
}
