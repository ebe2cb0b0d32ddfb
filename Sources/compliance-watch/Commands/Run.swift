import ArgumentParser
import CMalloc
import Logging
import Metrics
import Prometheus
import ServiceLifecycle
import WatchCore
import WatchDaemon

extension ComplianceWatchCommand {
    struct Run: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run the daemon in the foreground until SIGTERM or SIGINT.",
            discussion: """
                Polls on the configured schedule and delivers events to every sink. On SIGTERM or SIGINT it stops \
                polling, lets in-flight deliveries finish within [delivery] shutdown_timeout, and exits 0. \
                Exit codes: 78 invalid configuration, 73 unusable state database, 75 another process holds the state.
                """
        )

        @OptionGroup var options: GlobalOptions

        func run() async throws {
            // glibc gives each contending thread its own heap arena (up to 8 per core), each
            // keeping freed memory: two arenas hold the daemon's resident memory flat.
            _ = mallopt(M_ARENA_MAX, 2)
            let (daemon, lock) = try options.makeDaemon()
            defer { withExtendedLifetime(lock) {} }
            let logger = daemon.logger
            logger.info(
                "starting",
                metadata: [
                    "cw.config": "\(daemon.configuration.sourcePath)",
                    "cw.accounts": "\(daemon.configuration.accounts.map(\.name).joined(separator: ","))",
                    "cw.sinks": "\(daemon.sinks.map(\.name).joined(separator: ","))",
                ]
            )
            // The one place SIGTERM and SIGINT are handled: services stop in reverse order, and
            // after [delivery] shutdown_timeout what is still running is cancelled.
            var services = daemon.services
            if let listen = daemon.configuration.metrics.listen {
                // Once per process: every WatchMetrics call from here on lands in this registry.
                let registry = PrometheusCollectorRegistry()
                MetricsSystem.bootstrap(DocumentedMetricsFactory(registry: registry))
                // After the notifier, before delivery and polling: up first, down last.
                services.insert(MetricsServer(daemon: daemon, listen: listen, registry: registry), at: 1)
            }
            var configuration = ServiceGroupConfiguration(
                services: services.map { .init(service: $0) },
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger
            )
            configuration.maximumGracefulShutdownDuration = daemon.configuration.delivery.shutdownTimeout
            try await ServiceGroup(configuration: configuration).run()
            daemon.transport.shutdown()
            logger.info("stopped")
        }
    }
}
