import CurlHTTP
import Foundation
import Metrics
import PlivoCompliance

/// Every metric the daemon reports, named once (swift-metrics; `compliance-watch run` exports
/// them through swift-prometheus when `[metrics] listen` is set, otherwise they cost nothing).
///
/// Labels are bounded: account, sink, status, event type and a fixed set of outcomes. An
/// application id or a URL is never a label.
public enum WatchMetrics {
    /// `outcome` of `compliance_watch_api_requests_total`.
    public enum APIOutcome: String, Sendable, CaseIterable {
        case ok
        case rateLimited = "rate_limited"
        case serverError = "server_error"
        case clientError = "client_error"
        case transportError = "transport_error"
        case malformed

        /// The outcome of a call that threw `error`.
        public init(_ error: PlivoError) {
            switch error.kind {
            case .transport, .cancelled: self = .transportError
            case .malformedResponse: self = .malformed
            case .invalidArgument: self = .clientError
            case .api:
                switch error.status ?? 0 {
                case 429: self = .rateLimited
                case 500...: self = .serverError
                default: self = .clientError
                }
            }
        }
    }

    /// One API request and how it ended.
    public static func apiRequest(account: String, _ outcome: APIOutcome) {
        Counter(
            label: "compliance_watch_api_requests_total",
            dimensions: [("account", account), ("outcome", outcome.rawValue)]
        )
        .increment()
    }

    /// One poll cycle: its scan, whether it completed, and how long it took.
    public static func pollCycle(account: String, full: Bool, ok: Bool, duration: Duration) {
        let scan = full ? "full" : "hot"
        Counter(
            label: "compliance_watch_poll_cycles_total",
            dimensions: [("account", account), ("scan", scan), ("result", ok ? "ok" : "failed")]
        )
        .increment()
        Timer(
            label: "compliance_watch_poll_cycle_duration_seconds",
            dimensions: [("account", account), ("scan", scan)]
        )
        .recordNanoseconds(duration.inNanoseconds)
    }

    /// The last cycle that read everything it asked for.
    public static func lastSuccessfulPoll(account: String, at date: Date) {
        Gauge(label: "compliance_watch_last_successful_poll_timestamp_seconds", dimensions: [("account", account)])
            .record(date.timeIntervalSince1970)
    }

    /// Events recorded.
    public static func events(_ events: [Event]) {
        for event in events {
            Counter(
                label: "compliance_watch_events_total",
                dimensions: [("account", event.account), ("type", event.type.rawValue)]
            )
            .increment()
        }
    }

    /// `result` of `compliance_watch_delivery_attempts_total`.
    public enum AttemptResult: String, Sendable {
        /// The sink accepted it.
        case delivered
        /// It failed and will be tried again (or the sink is held).
        case retry
        /// It failed for good: a dead letter.
        case failed
    }

    /// One delivery attempt; for a delivered one, how long since the change was detected.
    public static func deliveryAttempt(sink: String, _ result: AttemptResult, sinceDetection: TimeInterval? = nil) {
        Counter(
            label: "compliance_watch_delivery_attempts_total",
            dimensions: [("sink", sink), ("result", result.rawValue)]
        )
        .increment()
        if let sinceDetection {
            Timer(label: "compliance_watch_delivery_latency_seconds", dimensions: [("sink", sink)])
                .recordNanoseconds(Int64(max(0, sinceDetection) * 1e9))
        }
    }
}
