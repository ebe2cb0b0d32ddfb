import Foundation
import Logging
import PlivoCompliance

/// Everything the daemon needs, validated once at load and never re-read mid-cycle.
///
/// Loaded from TOML by ``DaemonConfiguration/load(path:environment:)``; every key is documented
/// in `config/compliance-watch.toml`.
public struct DaemonConfiguration: Sendable {
    /// `[plivo]`, or one `[[accounts]]` table: one Plivo account and how it is polled.
    public struct Plivo: Sendable {
        /// `name`: how logs, the status line and sink filters call the account; with a single
        /// `[plivo]` table, the auth id.
        public var name: String
        /// `auth_id` (or env `PLIVO_AUTH_ID`).
        public var authId: String
        /// Resolved from `auth_token_file`, `$CREDENTIALS_DIRECTORY/plivo-auth-token` or env `PLIVO_AUTH_TOKEN`. Secret.
        public var authToken: String
        /// Where the token came from, for the redacted summary.
        public var authTokenSource: String
        /// `base_url`.
        public var baseURL: String
        /// `max_requests_per_second`: the token bucket's rate (Plivo allows 60/s).
        public var maxRequestsPerSecond: Double
        /// `concurrency`: pages fetched at once.
        public var concurrency: Int
        /// `timeout`: one request, start to end.
        public var timeout: Duration
        /// `connect_timeout`.
        public var connectTimeout: Duration
        /// `max_attempts`: tries per request before the cycle gives up on it.
        public var maxAttempts: Int
        /// `backoff_max`: the cap on one retry delay.
        public var backoffMax: Duration

        /// Creates the section; every default here is the documented one.
        public init(
            authId: String,
            authToken: String,
            authTokenSource: String = "",
            baseURL: String = "https://api.plivo.com",
            maxRequestsPerSecond: Double = 10,
            concurrency: Int = 4,
            timeout: Duration = .seconds(30),
            connectTimeout: Duration = .seconds(10),
            maxAttempts: Int = 5,
            backoffMax: Duration = .seconds(60),
            name: String? = nil
        ) {
            self.name = name ?? authId
            self.authId = authId
            self.authToken = authToken
            self.authTokenSource = authTokenSource
            self.baseURL = baseURL
            self.maxRequestsPerSecond = maxRequestsPerSecond
            self.concurrency = concurrency
            self.timeout = timeout
            self.connectTimeout = connectTimeout
            self.maxAttempts = maxAttempts
            self.backoffMax = backoffMax
        }
    }

    /// `[poll]`
    public struct Poll: Sendable {
        /// `interval`: how often changeable applications are listed.
        public var interval: Duration
        /// `settled_interval`: how often everything, accepted included, is listed.
        public var settledInterval: Duration
        /// `jitter`: each wait is stretched or shrunk by up to this share.
        public var jitter: Double
        /// `announce_existing`: the first sync announces every application as created.
        public var announceExisting: Bool

        /// Creates the section; every default here is the documented one.
        public init(
            interval: Duration = .seconds(30),
            settledInterval: Duration = .seconds(6 * 3600),
            jitter: Double = 0.1,
            announceExisting: Bool = false
        ) {
            self.interval = interval
            self.settledInterval = settledInterval
            self.jitter = jitter
            self.announceExisting = announceExisting
        }

        /// How long the poll may go without a complete cycle, or an application without an
        /// answer, before the daemon, `status` and `/healthz` call it stalled: three intervals.
        public var stallAfter: Duration { interval * 3 }
    }

    /// `[state]`
    public struct State: Sendable {
        /// `path`: the SQLite file (the default store), or, with ``url``, the directory-anchor for
        /// files kept beside the state (audit sealing keys).
        public var path: String
        /// `url`: `postgresql://USER@HOST:PORT/DATABASE[?sslmode=…]` selects PostgreSQL; `nil`: SQLite at ``path``.
        public var url: String?
        /// The PostgreSQL password, from `password_file`, `password_credential` or `PGPASSFILE`
        /// (read when the store opens); `nil` when none is configured. Secret.
        public var password: String?
        /// `delivery_retention`: delivered delivery rows older than this are pruned. Pending,
        /// dead and skipped rows never are.
        public var deliveryRetention: Duration
        /// `event_retention`: events older than this, with nothing pending or dead, are pruned;
        /// `nil` (the default) keeps them, and so the approvals history, for ever.
        public var eventRetention: Duration?

        /// Creates the section; every default here is the documented one.
        public init(
            path: String = "/var/lib/compliance-watch/state.db",
            deliveryRetention: Duration = .seconds(30 * 86400),
            eventRetention: Duration? = nil,
            url: String? = nil,
            password: String? = nil
        ) {
            self.url = url
            self.password = password
            self.path = path
            self.deliveryRetention = deliveryRetention
            self.eventRetention = eventRetention
        }
    }

    /// `[ha]`: several instances on one PostgreSQL store, one leading.
    public struct HA: Sendable {
        /// `lease`: how long a leader's lease lasts without renewal; a standby takes over this
        /// long after the leader stops renewing. Renewed every third of it.
        public var lease: Duration

        /// Creates the section; every default here is the documented one.
        public init(lease: Duration = .seconds(10)) {
            self.lease = lease
        }
    }

    /// `[delivery]`
    public struct Delivery: Sendable {
        /// `max_attempts`: attempts before a delivery becomes a dead letter; `nil` means no
        /// limit, so ``maxAge`` alone ends retries.
        public var maxAttempts: Int?
        /// `max_age`: a delivery older than this becomes a dead letter at its next failure
        /// (never for file sinks, which retry for as long as it takes).
        public var maxAge: Duration
        /// `backoff_base`: the first retry delay of capped exponential backoff with full jitter.
        public var backoffBase: Duration
        /// `backoff_max`: the cap on one retry delay.
        public var backoffMax: Duration
        /// `concurrency`: deliveries in flight per sink (each to a different application).
        public var concurrency: Int
        /// `shutdown_timeout`: how long in-flight deliveries may finish on stop.
        public var shutdownTimeout: Duration

        /// Creates the section; every default here is the documented one.
        public init(
            maxAttempts: Int? = nil,
            maxAge: Duration = .seconds(72 * 3600),
            backoffBase: Duration = .seconds(1),
            backoffMax: Duration = .seconds(3600),
            concurrency: Int = 8,
            shutdownTimeout: Duration = .seconds(10)
        ) {
            self.maxAttempts = maxAttempts
            self.maxAge = maxAge
            self.backoffBase = backoffBase
            self.backoffMax = backoffMax
            self.concurrency = concurrency
            self.shutdownTimeout = shutdownTimeout
        }
    }

    /// `[log]`
    public struct Log: Sendable {
        /// `level`.
        public var level: Logger.Level

        /// Creates the section; every default here is the documented one.
        public init(level: Logger.Level = .info) {
            self.level = level
        }
    }

    /// `[audit]`
    public struct Audit: Sendable {
        /// `seal`: seal every audit line with a forward-secure key (README, "Audit trail").
        public var seal: Bool
        /// `seal_interval`: how often the sealing key evolves.
        public var sealInterval: Duration
        /// The 32-byte seed (the epoch-0 key) from `sealing_key_file` or `sealing_key_credential`;
        /// `nil`: the daemon makes one on its first start. Secret.
        public var seed: Data?

        /// Creates the section; every default here is the documented one.
        public init(seal: Bool = true, sealInterval: Duration = .seconds(3600), seed: Data? = nil) {
            self.seal = seal
            self.sealInterval = sealInterval
            self.seed = seed
        }
    }

    /// `[metrics]`
    public struct Metrics: Sendable {
        /// An address and port to serve `/metrics` and `/healthz` on.
        public struct Listen: Sendable, Equatable, CustomStringConvertible {
            /// An IPv4 or IPv6 address (`127.0.0.1`, `::1`, `0.0.0.0`).
            public var host: String
            /// The TCP port.
            public var port: UInt16

            /// Creates an address.
            public init(host: String, port: UInt16) {
                self.host = host
                self.port = port
            }

            /// `host:port`, IPv6 in brackets.
            public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

            /// Parses `127.0.0.1:9464` or `[::1]:9464`; `nil` when it is neither.
            public init?(parsing text: String) {
                let host: Substring, port: Substring
                if text.hasPrefix("["), let close = text.firstIndex(of: "]"),
                    text[text.index(after: close)...].hasPrefix(":")
                {
                    host = text[text.index(after: text.startIndex)..<close]
                    port = text[text.index(close, offsetBy: 2)...]
                } else if let colon = text.lastIndex(of: ":"), !text[..<colon].contains(":") {
                    host = text[..<colon]
                    port = text[text.index(after: colon)...]
                } else {
                    return nil
                }
                guard let number = UInt16(port), number > 0, !host.isEmpty,
                    host.allSatisfy({ $0.isHexDigit || $0 == "." || $0 == ":" })
                else { return nil }
                self.init(host: String(host), port: number)
            }
        }

        /// `listen`: off when `nil` (the default).
        public var listen: Listen?

        /// Creates the section; metrics are off by default.
        public init(listen: Listen? = nil) {
            self.listen = listen
        }
    }

    /// The accounts to watch, in file order: the `[[accounts]]` tables, or the one `[plivo]`
    /// table. Never empty; names and auth ids are unique.
    public var accounts: [Plivo]
    /// The first account: with a single `[plivo]` table, the only one. Its transport settings
    /// (timeouts) are the shared client's.
    public var plivo: Plivo { accounts[0] }
    /// `[poll]`
    public var poll: Poll
    /// `[state]`
    public var state: State
    /// `[delivery]`
    public var delivery: Delivery
    /// `[ha]`
    public var ha = HA()
    /// `[log]`
    public var log: Log
    /// `[metrics]`
    public var metrics = Metrics()
    /// `[audit]`
    public var audit = Audit()
    /// `[[sinks]]`, in file order.
    public var sinks: [SinkConfiguration]
    /// The file it was loaded from.
    public var sourcePath: String
}

/// `type` of a sink.
public enum SinkKind: String, Sendable, Hashable, CaseIterable {
    /// An append-only audit file.
    case file
    /// An HTTP POST (raw signed JSON or a chat format).
    case webhook
    /// Mail through a sendmail-style command or SMTP.
    case mail
}

/// A sink type's own validated settings (`WebhookSink.Configuration`, …). Each type reads itself
/// through a ``ConfigReader``; the description never shows a secret.
public protocol SinkSettings: Sendable, CustomStringConvertible {}

/// `[[sinks]]`: one destination and which events it receives.
public struct SinkConfiguration: Sendable {
    /// `name`: unique; used in the deliveries table and logs.
    public var name: String
    /// `type`.
    public var kind: SinkKind
    /// `[sinks.filter]`
    public var filter: EventFilter
    /// The type's settings, validated; `nil` when the file was loaded without reading sink
    /// settings (commands that only read the state database).
    public var settings: (any SinkSettings)?
    /// 1-based position in the file, for messages.
    public var index: Int

    /// Creates a sink entry.
    public init(
        name: String,
        kind: SinkKind,
        filter: EventFilter = EventFilter(),
        settings: (any SinkSettings)?,
        index: Int
    ) {
        self.name = name
        self.kind = kind
        self.filter = filter
        self.settings = settings
        self.index = index
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
    /// Accounts, by auth id (`accounts = [...]` names them by name or auth id; the loader
    /// resolves names).
    public var accounts: [String]

    /// Creates a filter; empty lists match everything.
    public init(
        types: [EventType] = [],
        from: [ApplicationStatus] = [],
        to: [ApplicationStatus] = [],
        accounts: [String] = []
    ) {
        self.types = types
        self.from = from
        self.to = to
        self.accounts = accounts
    }

    /// Whether an event of `type` moving `from` → `to` in `account` (an auth id) passes.
    public func matches(
        type: EventType,
        from previous: ApplicationStatus?,
        to current: ApplicationStatus,
        account: String? = nil
    ) -> Bool {
        (types.isEmpty || types.contains(type))
            && (from.isEmpty || previous.map(from.contains) == true)
            && (to.isEmpty || to.contains(current))
            && (accounts.isEmpty || account.map(accounts.contains) == true)
    }
}

extension DaemonConfiguration.Audit: CustomStringConvertible, CustomDebugStringConvertible {
    /// Never shows the seed.
    public var description: String {
        "Audit(seal: \(seal), sealInterval: \(sealInterval), seed: \(seed == nil ? "generated" : "<redacted>"))"
    }
    public var debugDescription: String { description }
}

extension DaemonConfiguration.Plivo: CustomStringConvertible, CustomDebugStringConvertible {
    /// Never shows the token.
    public var description: String {
        "Plivo(name: \(name), authId: \(authId), authToken: <redacted>, baseURL: \(baseURL), maxRequestsPerSecond: \(maxRequestsPerSecond), concurrency: \(concurrency))"
    }
    public var debugDescription: String { description }
}
