import CurlHTTP
import Foundation
import Logging
import PlivoCompliance
import ServiceLifecycle
import WatchCore
import WatchPostgres
import WatchSinks
import WatchSystemd

/// The single wiring function: configuration in, services out. The executable and the tests
/// both build the daemon through it.
public struct Daemon: Sendable {
    /// The configuration it was built from.
    public let configuration: DaemonConfiguration
    /// Every sink, built once, in configuration order.
    public let sinks: [any Sink]
    /// The state store.
    public let store: StateStore
    /// What the systemd status line and `status` show.
    public let status: StatusBoard
    /// Each poll loop's liveness, for the watchdog, in account order.
    public let heartbeats: [Heartbeat]
    /// The first account's heartbeat; its clock is every loop's.
    public var heartbeat: Heartbeat { heartbeats[0] }
    /// The daemon's logger.
    public let logger: Logger
    /// One poll loop per account, in configuration order.
    public let watchers: [Watcher]
    /// The first account's poll loop.
    public var watcher: Watcher { watchers[0] }
    /// One dispatcher per sink.
    public let dispatchers: [Dispatcher]
    /// Runs the dispatchers and drains them on shutdown.
    public let delivery: DeliveryService
    /// Sinks their receivers switched off (410 Gone) since start.
    public let sinkStates: SinkStates
    /// The one libcurl transfer thread shared by the Plivo client and every HTTP and SMTP sink.
    public let transport: CurlTransport
    /// The active/standby lease, when the store is PostgreSQL opened for the daemon.
    public let lease: PostgresLease?
    /// Open while this instance may poll and deliver: always without a lease.
    public let gate: LeaseGate

    /// Loads and validates the configuration, each sink's settings in the same pass, so one run
    /// names every problem of every section. Nothing is built.
    public static func loadConfiguration(
        path: String,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(ConfigurationError) -> DaemonConfiguration {
        try DaemonConfiguration.load(path: path, environment: environment, readSink: SinkCatalog.read)
    }

    /// Builds every part over an open store, each sink once, from a configuration loaded by
    /// ``loadConfiguration(path:environment:)``.
    public init(configuration: DaemonConfiguration, store: StateStore, logger: Logger) {
        let plivo = configuration.plivo
        let d = configuration.delivery
        let transport = CurlTransport(
            configuration: .init(
                connectTimeout: plivo.connectTimeout,
                timeout: plivo.timeout,
                maxConcurrentTransfers: configuration.accounts.reduce(0) { $0 + max($1.concurrency, 1) }
                    + SinkCatalog.transferSlots(configuration.sinks, deliveryConcurrency: d.concurrency)
            )
        )
        let sealing =
            configuration.audit.seal
            ? AuditSeal.Settings(
                directory: URL(fileURLWithPath: configuration.state.path).deletingLastPathComponent().path,
                interval: configuration.audit.sealInterval,
                seed: configuration.audit.seed
            )
            : nil
        if let database = store.database as? PostgresDatabase, database.fence.requiresLease {
            lease = PostgresLease(database: database, duration: configuration.ha.lease)
            gate = .closed()
        } else {
            lease = nil
            gate = .alwaysOpen()
        }
        let resources = SinkCatalog.Resources(
            store: store,
            transport: transport,
            sealing: sealing,
            host: lease?.instance.host
        )
        let sinks = configuration.sinks.compactMap { SinkCatalog.make($0, resources: resources) }
        self.transport = transport
        self.configuration = configuration
        self.sinks = sinks
        self.store = store
        self.logger = logger
        let status = StatusBoard()
        self.status = status
        let sinkStates = SinkStates()
        self.sinkStates = sinkStates
        let gate = self.gate
        let dispatchers = sinks.map { sink in
            Dispatcher(
                sink: sink,
                store: store,
                settings: .init(
                    concurrency: d.concurrency,
                    maxAttempts: d.maxAttempts ?? .max,
                    maxAge: d.maxAge,
                    backoff: Backoff(base: d.backoffBase, cap: d.backoffMax)
                ),
                doorbell: Doorbell(),
                logger: logger,
                sinkStates: sinkStates,
                gate: gate
            )
        }
        self.dispatchers = dispatchers
        let routes = configuration.sinks.map { SinkRoute(name: $0.name, filter: $0.filter) }
        // Each account has its own client, token bucket (Plivo's limit is per account) and loop,
        // so one account's 401 or outage never waits on another's backoff.
        let several = configuration.accounts.count > 1
        watchers = configuration.accounts.map { account in
            let client = PlivoClient(
                configuration: .init(authId: account.authId, authToken: account.authToken, baseURL: account.baseURL),
                transport: transport
            )
            let poller = Poller(
                source: client,
                store: store,
                bucket: TokenBucket(rate: account.maxRequestsPerSecond, burst: account.concurrency),
                settings: .init(
                    concurrency: account.concurrency,
                    maxAttempts: account.maxAttempts,
                    backoff: Backoff(base: .milliseconds(500), cap: account.backoffMax),
                    announceExisting: configuration.poll.announceExisting
                ),
                sinks: routes,
                heartbeat: Heartbeat(),
                sinkStates: sinkStates
            )
            return Watcher(
                poller: poller,
                poll: configuration.poll,
                backoff: Backoff(base: .seconds(1), cap: account.backoffMax),
                doorbells: dispatchers.map(\.doorbell),
                status: status,
                logger: logger,
                name: several ? account.name : nil,
                gate: gate
            )
        }
        heartbeats = watchers.map(\.poller.heartbeat)
        delivery = DeliveryService(dispatchers: dispatchers, logger: logger)
    }

    /// The services in start order; on shutdown they stop in reverse: the watcher first, the
    /// systemd notifier last.
    public var services: [any Service] {
        let systemd = SystemdService(
            status: status,
            heartbeats: heartbeats,
            reload: { await self.reload() },
            logger: logger
        )
        let retention = RetentionService(
            store: store,
            state: configuration.state,
            clock: heartbeat.clock,
            logger: logger
        )
        guard let lease else { return [systemd, retention, delivery] + watchers }
        let leading = ActiveStandby(
            lease: lease,
            gate: gate,
            status: status,
            services: [retention, delivery] + watchers,
            prepare: { try self.prepare() },
            heartbeats: heartbeats,
            logger: logger
        )
        return [systemd, leading]
    }

    /// Makes the store match this configuration before anything runs: every sink enabled again,
    /// and pending deliveries for sinks no longer configured dead-lettered (logged).
    public func prepare() throws {
        let killed = try store.prepareSinks(configured: Set(sinks.map(\.name)))
        if killed > 0 {
            logger.warning(
                "pending deliveries for sinks no longer configured were dead-lettered",
                metadata: [
                    "cw.dead": "\(killed)", "cw.reason": "sink removed from configuration",
                ]
            )
        }
    }

    /// SIGHUP: reopens file sinks first and always (logrotate has moved the file, whatever the
    /// new file says), enables sinks their receivers disabled (410), then validates the file again. A bad file is refused and the running
    /// configuration stays. Other changes apply at the next restart.
    /// - Returns: `nil` on success, else the problems found.
    public func reload() async -> String? {
        for case let file as FileSink in sinks { await file.reopen() }
        // A reload is how an operator says "the receiver is back": held deliveries go out.
        let enabled = sinkStates.enableAll()
        if !enabled.isEmpty {
            do {
                try store.prepareSinks(configured: Set(sinks.map(\.name)))
            } catch {
                logger.error("cannot record that sinks are enabled again", metadata: ["cw.error": "\(error)"])
            }
            logger.notice(
                "disabled sinks enabled again; their held deliveries go out",
                metadata: ["cw.sinks": "\(enabled.joined(separator: ","))"]
            )
            dispatchers.forEach { $0.doorbell.ring() }
        }
        do {
            // Validated, never built: what changed applies at the next restart.
            let fresh = try Daemon.loadConfiguration(path: configuration.sourcePath)
            if fresh.sinks.map(\.name) != configuration.sinks.map(\.name)
                || fresh.accounts.map(\.authId) != configuration.accounts.map(\.authId)
                || fresh.accounts.map(\.baseURL) != configuration.accounts.map(\.baseURL)
                || fresh.poll.interval != configuration.poll.interval
            {
                logger.notice("configuration changed on disk; restart the service to apply it")
            }
            return nil
        } catch {
            return error.description
        }
    }

    /// One full cycle of every account, then every due delivery, then return (`compliance-watch
    /// once`). Each account's result is its report or its error, in account order.
    /// With a PostgreSQL lease, `once` takes the lease for its run (and gives it back), so it
    /// never writes beside a running leader; when another instance leads, every account fails.
    public func runOnce() async -> [(account: String, result: Result<Poller.Report, CycleError>)] {
        var results: [(account: String, result: Result<Poller.Report, CycleError>)] = []
        var held: Int64?
        if let lease, let database = store.database as? PostgresDatabase {
            let sent = ContinuousClock.now
            do {
                guard let token = try lease.acquire() else {
                    struct Leading: Error, CustomStringConvertible {
                        var description: String { "another instance holds the lease and polls; once does nothing" }
                    }
                    return watchers.map { ($0.name, .failure(.store(Leading()))) }
                }
                held = token
                database.fence.lead(.init(instance: lease.instance.id, token: token))
                gate.open(until: sent + lease.duration)
                try prepare()
            } catch {
                return watchers.map { ($0.name, .failure(.store(error))) }
            }
        }
        defer {
            if let held, let lease {
                gate.close()
                try? lease.release(token: held)
            }
        }
        for watcher in watchers {
            do throws(CycleError) {
                results.append((watcher.name, .success(try await watcher.cycle(full: true))))
            } catch {
                results.append((watcher.name, .failure(error)))
            }
        }
        await withTaskGroup(of: Void.self) { group in
            for dispatcher in dispatchers { group.addTask { await dispatcher.drain() } }
        }
        return results
    }
}
