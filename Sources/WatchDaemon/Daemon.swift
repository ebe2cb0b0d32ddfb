import CurlHTTP
import Foundation
import Logging
import PlivoCompliance
import ServiceLifecycle
import WatchCore
import WatchSinks

/// The single wiring function: configuration in, services out. The executable and the tests
/// both build the daemon through it.
public struct Daemon: Sendable {
    public let configuration: DaemonConfiguration
    public let sinks: [any Sink]
    public let store: StateStore
    public let status: StatusBoard
    public let watcher: Watcher
    public let dispatchers: [Dispatcher]
    public let delivery: DeliveryService

    /// Loads and validates the configuration and the sinks' settings together.
    public static func loadConfiguration(
        path: String, environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(ConfigurationError) -> (DaemonConfiguration, [any Sink]) {
        let configuration = try DaemonConfiguration.load(path: path, environment: environment)
        let sinks = try SinkFactory.make(configuration.sinks, configurationFile: path, environment: environment)
        return (configuration, sinks)
    }

    /// Builds every part over an open store.
    /// - Throws: ``ConfigurationError`` when a sink's settings are invalid.
    public init(
        configuration: DaemonConfiguration, store: StateStore, logger: Logger,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(ConfigurationError) {
        let sinks = try SinkFactory.make(
            configuration.sinks, configurationFile: configuration.sourcePath, environment: environment, store: store)
        self.configuration = configuration
        self.sinks = sinks
        self.store = store
        status = StatusBoard()
        let plivo = configuration.plivo
        let transport = CurlTransport(configuration: .init(
            connectTimeout: plivo.connectTimeout, timeout: plivo.timeout,
            maxConcurrentTransfers: max(plivo.concurrency, 1)))
        let client = PlivoClient(
            configuration: .init(authId: plivo.authId, authToken: plivo.authToken, baseURL: plivo.baseURL),
            transport: transport)
        let poller = Poller(
            client: client, store: store,
            bucket: TokenBucket(rate: plivo.maxRequestsPerSecond, burst: plivo.concurrency),
            settings: .init(
                concurrency: plivo.concurrency, maxAttempts: plivo.maxAttempts,
                backoff: Backoff(base: .milliseconds(500), cap: plivo.backoffMax),
                announceExisting: configuration.poll.announceExisting),
            sinks: zip(configuration.sinks, sinks).map { SinkRoute(name: $1.name, filter: $0.filter) })
        let d = configuration.delivery
        dispatchers = sinks.map { sink in
            Dispatcher(
                sink: sink, store: store,
                settings: .init(
                    concurrency: d.concurrency, maxAttempts: d.maxAttempts, maxAge: d.maxAge,
                    backoff: Backoff(base: d.backoffBase, cap: d.backoffMax)),
                doorbell: Doorbell(), logger: logger)
        }
        watcher = Watcher(
            poller: poller, poll: configuration.poll, backoff: Backoff(base: .seconds(1), cap: plivo.backoffMax),
            doorbells: dispatchers.map(\.doorbell), status: status, logger: logger)
        delivery = DeliveryService(dispatchers: dispatchers, shutdownTimeout: d.shutdownTimeout, logger: logger)
    }

    /// The services in start order; on shutdown they stop in reverse (the watcher first).
    public var services: [any Service] { [delivery, watcher] }

    /// One full cycle, then every due delivery, then return (`compliance-watch once`).
    public func runOnce() async throws(PlivoError) -> Poller.Report {
        let report = try await watcher.cycle(full: true)
        await withTaskGroup(of: Void.self) { group in
            for dispatcher in dispatchers { group.addTask { await dispatcher.drain() } }
        }
        return report
    }
}
