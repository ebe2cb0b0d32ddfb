import Foundation
import PlivoCompliance

/// Everything the daemon needs, validated once at load and never re-read mid-cycle.
///
/// Loaded from TOML by ``DaemonConfiguration/load(path:environment:)``; every key is documented
/// in `config/compliance-watch.toml`.
public struct DaemonConfiguration: Sendable {
    /// `[plivo]`
    public struct Plivo: Sendable {
        /// `auth_id` (or env `PLIVO_AUTH_ID`).
        public var authId: String
        /// Resolved from `auth_token_file`, `$CREDENTIALS_DIRECTORY/plivo-auth-token` or env `PLIVO_AUTH_TOKEN`. Secret.
        public var authToken: String
        /// Where the token came from, for the redacted summary.
        public var authTokenSource: String
        /// `base_url`, default `https://api.plivo.com`.
        public var baseURL: String
        /// `max_requests_per_second`, default 10: the token bucket's rate (Plivo allows 60/s).
        public var maxRequestsPerSecond: Double
        /// `concurrency`, default 4: pages fetched at once.
        public var concurrency: Int
        /// `timeout`, default 30s: one request, start to end.
        public var timeout: Duration
        /// `connect_timeout`, default 10s.
        public var connectTimeout: Duration
        /// `max_attempts`, default 5: tries per request before the cycle is abandoned.
        public var maxAttempts: Int
        /// `backoff_max`, default 60s: the cap on one retry delay.
        public var backoffMax: Duration
    }

    /// `[poll]`
    public struct Poll: Sendable {
        /// `interval`, default 30s: how often changeable applications are listed.
        public var interval: Duration
        /// `settled_interval`, default 6h: how often everything, accepted included, is listed.
        public var settledInterval: Duration
        /// `jitter`, default 0.1: each wait is stretched or shrunk by up to this share.
        public var jitter: Double
        /// `announce_existing`, default false: the first sync announces every application as created.
        public var announceExisting: Bool

        public init(interval: Duration, settledInterval: Duration, jitter: Double, announceExisting: Bool) {
            self.interval = interval
            self.settledInterval = settledInterval
            self.jitter = jitter
            self.announceExisting = announceExisting
        }
    }

    /// `[state]`
    public struct State: Sendable {
        /// `path`, default `/var/lib/compliance-watch/state.db`.
        public var path: String
    }

    /// `[delivery]`
    public struct Delivery: Sendable {
        /// `max_attempts`: attempts before a delivery becomes a dead letter; `nil` (the default)
        /// means no limit, so ``maxAge`` alone ends retries.
        public var maxAttempts: Int?
        /// `max_age`, default 72h: a delivery older than this becomes a dead letter at its next
        /// failure (never for file sinks, which retry for as long as it takes).
        public var maxAge: Duration
        /// `backoff_base`, default 1s, and `backoff_max`, default 1h: capped exponential backoff with full jitter.
        public var backoffBase: Duration
        public var backoffMax: Duration
        /// `concurrency`, default 8: deliveries in flight per sink (each to a different application).
        public var concurrency: Int
        /// `shutdown_timeout`, default 10s: how long in-flight deliveries may finish on stop.
        public var shutdownTimeout: Duration
    }

    /// `[log]`
    public struct Log: Sendable {
        /// `level`: trace, debug, info, notice, warning, error or critical. Default info.
        public var level: String
    }

    public var plivo: Plivo
    public var poll: Poll
    public var state: State
    public var delivery: Delivery
    public var log: Log
    public var sinks: [SinkConfiguration]
    /// The file it was loaded from.
    public var sourcePath: String
}

/// `[[sinks]]`: one destination and which events it receives.
public struct SinkConfiguration: Sendable {
    /// `name`: unique; used in the deliveries table and logs.
    public var name: String
    /// `type`: `file`, `webhook` or `mail`.
    public var type: String
    /// `[sinks.filter]`
    public var filter: EventFilter
    /// Type-specific settings, already validated by the sink's factory.
    public var settings: SinkSettings
    /// 1-based position in the file, for messages.
    public var index: Int
}

/// The type-specific keys of a sink, as read from TOML (strings, numbers, booleans, string lists
/// and string tables). The sink factory in `WatchSinks` turns them into a typed configuration.
public struct SinkSettings: Sendable {
    public var values: [String: SettingValue]
    /// Resolves a setting's line in the source file for messages.
    public var location: @Sendable (String) -> ConfigurationError.Location

    /// A loosely typed TOML value.
    public enum SettingValue: Sendable, Equatable {
        case string(String)
        case int(Int)
        case double(Double)
        case bool(Bool)
        case strings([String])
        case table([String: String])
    }
}

/// Which events a sink receives: every listed criterion must match; an empty list matches all.
public struct EventFilter: Sendable, Equatable {
    /// Event types.
    public var types: [EventType]
    /// Previous statuses (for `created` after a deletion: `deleted`).
    public var from: [ApplicationStatus]
    /// New statuses.
    public var to: [ApplicationStatus]

    /// Creates a filter; empty lists match everything.
    public init(types: [EventType] = [], from: [ApplicationStatus] = [], to: [ApplicationStatus] = []) {
        self.types = types
        self.from = from
        self.to = to
    }

    /// Whether an event of `type` moving `from` → `to` passes.
    public func matches(type: EventType, from previous: ApplicationStatus?, to current: ApplicationStatus) -> Bool {
        (types.isEmpty || types.contains(type))
            && (from.isEmpty || previous.map(from.contains) == true)
            && (to.isEmpty || to.contains(current))
    }
}

extension DaemonConfiguration.Plivo: CustomStringConvertible, CustomDebugStringConvertible {
    /// Never shows the token.
    public var description: String {
        "Plivo(authId: \(authId), authToken: <redacted>, baseURL: \(baseURL), maxRequestsPerSecond: \(maxRequestsPerSecond), concurrency: \(concurrency))"
    }
    public var debugDescription: String { description }
}

extension SinkSettings: CustomStringConvertible, CustomDebugStringConvertible {
    /// Only the keys: values may be secrets.
    public var description: String { "SinkSettings(keys: \(values.keys.sorted()))" }
    public var debugDescription: String { description }
}
