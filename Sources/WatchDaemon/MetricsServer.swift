import CurlHTTP
import FlyingFox
import FlyingSocks
import Foundation
import Logging
import Prometheus
import ServiceLifecycle
import Synchronization
import WatchCore

/// Serves `GET /metrics` (Prometheus text format) and `GET /healthz` on `[metrics] listen`.
///
/// Counters and histograms come from the swift-metrics calls in ``WatchMetrics``, which
/// `compliance-watch run` bootstraps with this server's registry. Gauges that describe the store
/// (applications by status, deliveries pending or dead by sink) are read from it at each scrape,
/// so they are never stale; a label set that disappears is reported as 0 once, then dropped.
public struct MetricsServer: Service {
    /// Where it listens.
    public let listen: DaemonConfiguration.Metrics.Listen
    let registry: PrometheusCollectorRegistry
    let health: HealthCheck
    let logger: Logger

    /// A server for `daemon`'s store and poll interval, exporting `registry`.
    public init(daemon: Daemon, listen: DaemonConfiguration.Metrics.Listen, registry: PrometheusCollectorRegistry) {
        self.listen = listen
        self.registry = registry
        health = HealthCheck(
            store: daemon.store,
            accounts: daemon.configuration.accounts.map(\.authId),
            staleAfter: daemon.watcher.stallAfter,
            clock: daemon.heartbeat.clock,
            status: daemon.status
        )
        logger = daemon.logger
        registry.makeGauge(
            descriptor: DocumentedMetricsFactory(registry: registry).descriptor("compliance_watch_build_info"),
            labels: [("version", complianceWatchVersion), ("commit", complianceWatchCommit)]
        ).set(1.0)
    }

    /// Serves until graceful shutdown.
    public func run() async throws {
        let handler = Handler(
            registry: registry,
            health: health,
            gauges: StoreGauges(registry: registry, store: health.store, logger: logger)
        )
        let server =
            listen.host.contains(":")
            ? HTTPServer(
                config: .init(
                    address: try sockaddr_in6.inet6(ip6: listen.host, port: listen.port),
                    timeout: 15,
                    logger: .disabled
                ),
                handler: handler
            )
            : HTTPServer(
                config: .init(
                    address: try sockaddr_in.inet(ip4: listen.host, port: listen.port),
                    timeout: 15,
                    logger: .disabled
                ),
                handler: handler
            )
        logger.info("serving metrics", metadata: ["cw.listen": "\(listen)"])
        do {
            try await cancelWhenGracefulShutdown { try await server.run() }
        } catch {
            // Stopped by the graceful shutdown (FlyingFox may end with a socket error then, when a
            // scraper keeps a connection open): not a failure. Anything else is, e.g. a port in use.
            if Task.isShuttingDownGracefully || Task.isCancelled { return }
            throw error
        }
    }

    struct Handler: HTTPHandler {
        let registry: PrometheusCollectorRegistry
        let health: HealthCheck
        let gauges: StoreGauges

        func handleRequest(_ request: FlyingFox.HTTPRequest) async throws -> FlyingFox.HTTPResponse {
            guard request.method == .GET || request.method == .HEAD else { return .init(statusCode: .methodNotAllowed) }
            switch request.path {
            case "/metrics":
                gauges.refresh()
                var text: [UInt8] = []
                registry.emit(into: &text)
                return .init(
                    statusCode: .ok,
                    headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                    body: Data(text)
                )
            case "/healthz":
                let (healthy, body) = health.check()
                return .init(
                    statusCode: healthy ? .ok : .serviceUnavailable,
                    headers: [.contentType: "application/json"],
                    body: body
                )
            default:
                return .init(statusCode: .notFound)
            }
        }
    }
}

/// `/healthz`: healthy while every account's last complete poll is recent and the store answers.
struct HealthCheck: Sendable {
    let store: StateStore
    let accounts: [String]
    let staleAfter: Duration
    let clock: any WatchClock
    /// Says whether this instance leads (`active`) or stands by; the polls judged are the
    /// store's, so a standby reports how the leader is doing.
    let status: StatusBoard

    /// Whether healthy, and the JSON body: `{"status":"ok"|"unhealthy","accounts":[…],"reason":…}`.
    func check() -> (Bool, Data) {
        var reasons: [String] = []
        var entries: [[String: Any]] = []
        for account in accounts {
            do {
                let state = try store.pollState(account: account)
                let last = state.lastSuccessAt
                entries.append(["account": account, "last_successful_poll": last.map(EventTime.format) ?? NSNull()])
                if let last {
                    let age = clock.now.timeIntervalSince(last)
                    let limit = staleAfter.inSeconds
                    if age > limit {
                        reasons.append(
                            "\(account): no successful poll for \(String(format: "%.1f", age)) s (limit \(String(format: "%.1f", limit)) s)"
                        )
                    }
                } else {
                    reasons.append("\(account): no successful poll yet")
                }
            } catch {
                reasons.append("state database: \(error)")
            }
        }
        var body: [String: Any] = [
            "status": reasons.isEmpty ? "ok" : "unhealthy", "role": status.current.standingBy ? "standby" : "active",
            "accounts": entries,
        ]
        if !reasons.isEmpty { body["reason"] = reasons.joined(separator: "; ") }
        let data = (try? JSONSerialization.data(withJSONObject: body, options: [.sortedKeys])) ?? Data("{}".utf8)
        return (reasons.isEmpty, data)
    }
}

/// The gauges read from the store at each scrape.
final class StoreGauges: Sendable {
    let registry: PrometheusCollectorRegistry
    let store: StateStore
    let logger: Logger
    private let seen = Mutex<Set<[String]>>([])

    init(registry: PrometheusCollectorRegistry, store: StateStore, logger: Logger) {
        self.registry = registry
        self.store = store
        self.logger = logger
    }

    /// Reads the store; on failure the gauges keep their last values and the failure is logged
    /// (`/healthz` reports it too).
    func refresh() {
        let summary: StatusSummary
        do {
            summary = try store.summary(blocked: false)
        } catch {
            logger.error("cannot read the state database for /metrics", metadata: ["cw.error": "\(error)"])
            return
        }
        var now: [[String]: Double] = [:]
        for (account, _) in summary.pollStates {
            for entry in summary.applicationsByStatus {
                now[["compliance_watch_applications", "account", account, "status", entry.status]] = Double(entry.count)
            }
        }
        for entry in summary.deliveries where entry.state == .pending || entry.state == .dead {
            now[["compliance_watch_deliveries", "sink", entry.sink, "state", entry.state.rawValue]] = Double(
                entry.count
            )
        }
        let stale = seen.withLock { seen -> Set<[String]> in
            let gone = seen.subtracting(now.keys)
            seen = Set(now.keys)
            return gone
        }
        for key in stale { gauge(key).set(0.0) }
        for (key, value) in now { gauge(key).set(value) }
    }

    private func gauge(_ key: [String]) -> Prometheus.Gauge {
        registry.makeGauge(
            descriptor: DocumentedMetricsFactory(registry: registry).descriptor(key[0]),
            labels: [(key[1], key[2]), (key[3], key[4])]
        )
    }
}

extension MetricsServer: CustomStringConvertible, CustomDebugStringConvertible {
    /// Short: service-lifecycle logs services by description.
    public var description: String { "MetricsServer(\(listen))" }
    public var debugDescription: String { description }
}
