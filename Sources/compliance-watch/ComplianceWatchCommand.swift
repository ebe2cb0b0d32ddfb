import ArgumentParser
import CurlHTTP
import Foundation
import Logging
import WatchCore
import WatchDaemon
import WatchSinks
import WatchSystemd

/// `compliance-watch`: watches Plivo compliance applications and announces their transitions.
@main
struct ComplianceWatchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compliance-watch",
        abstract: "Watch Plivo compliance applications and deliver their status changes to webhooks, files and mail.",
        version: "\(complianceWatchVersion) (\(complianceWatchCommit))",
        subcommands: [
            Run.self, Once.self, Status.self, History.self, CheckConfig.self, Deliveries.self, Audit.self,
            TestSink.self, Reload.self,
        ],
        defaultSubcommand: Run.self
    )
}

/// Options every command shares.
struct GlobalOptions: ParsableArguments {
    @Option(name: .shortAndLong, help: "The configuration file.")
    var config = "/etc/compliance-watch/compliance-watch.toml"

    @Option(name: .customLong("log-level"), help: "Overrides [log] level: trace, debug, info, notice, warning, error.")
    var logLevel: String?

    @Option(
        name: .customLong("log-format"),
        help: "auto (the journal when systemd connected stderr to it), journal, or text."
    )
    var logFormat: LogFormat = .auto
}

extension LogFormat: ExpressibleByArgument {}

/// Exit codes from sysexits.h, so systemd and scripts can tell failures apart.
enum ExitCodes {
    /// EX_CONFIG: the configuration is invalid; `RestartPreventExitStatus=78` stops restart loops.
    static let config = ExitCode(78)
    /// EX_CANTCREAT: the state database cannot be opened or created.
    static let state = ExitCode(73)
    /// EX_TEMPFAIL: the API could not be polled (`once`), or another process is using the
    /// state; try again later.
    static let temporary = ExitCode(75)
}

extension GlobalOptions {
    /// Loads the configuration with every sink's settings, or prints every problem and exits 78.
    func loadConfiguration() throws -> DaemonConfiguration {
        do {
            return try Daemon.loadConfiguration(path: config)
        } catch {
            printError("configuration is invalid:\n\(error.description)")
            SystemdNotifier().fatal(
                status: "invalid configuration: \(error.problems.first?.description ?? "")",
                errno: EINVAL
            )
            throw ExitCodes.config
        }
    }

    /// For commands that only read state: the file must be valid, but secrets are not read,
    /// so an operator's shell needs no access to the token. With `sinkSettings` each sink's own
    /// keys (and secrets) are read too, as `test-sink` needs.
    func loadConfigurationForReading(sinkSettings: Bool = false) throws -> DaemonConfiguration {
        do {
            if sinkSettings {
                return try DaemonConfiguration.load(path: config, secrets: false, readSink: SinkCatalog.read)
            }
            return try DaemonConfiguration.load(path: config, secrets: false)
        } catch {
            printError("configuration is invalid:\n\(error.description)")
            throw ExitCodes.config
        }
    }

    func openStore(_ configuration: DaemonConfiguration, logger: Logger) throws -> StateStore {
        do {
            return try StoreOpener.open(
                configuration.state,
                use: .daemon,
                lease: configuration.ha.lease,
                logger: logger
            )
        } catch {
            printError(error.description)
            SystemdNotifier().fatal(status: error.description, errno: EIO)
            throw ExitCodes.state
        }
    }

    /// Everything `run` and `once` need: configuration, logging, the single-writer lock (SQLite;
    /// PostgreSQL has the lease instead), the store and the wired daemon. The lock is held until
    /// the process exits.
    func makeDaemon() throws -> (Daemon, StateLock?) {
        let configuration = try loadConfiguration()
        let logger = makeLogger(configuration)
        var lock: StateLock?
        do {
            if configuration.state.url == nil { lock = try StateLock.acquire(statePath: configuration.state.path) }
        } catch let busy as StateLock.Busy {
            printError(busy.description)
            SystemdNotifier().fatal(status: busy.description, errno: EBUSY)
            throw ExitCodes.temporary
        } catch {
            printError("\(error)")
            SystemdNotifier().fatal(status: "\(error)", errno: EIO)
            throw ExitCodes.state
        }
        let store = try openStore(configuration, logger: logger)
        let daemon = Daemon(configuration: configuration, store: store, logger: logger)
        do {
            // With a lease, the store is prepared by whichever instance takes it.
            if daemon.lease == nil { try daemon.prepare() }
        } catch {
            printError("state database \(configuration.state.path): \(error)")
            throw ExitCodes.state
        }
        return (daemon, lock)
    }

    func makeLogger(_ configuration: DaemonConfiguration) -> Logger {
        let level = logLevel.flatMap(Logger.Level.init(rawValue:)) ?? configuration.log.level
        let format = logFormat.resolved()
        let underManager = ProcessInfo.processInfo.environment["INVOCATION_ID"] != nil || isatty(2) == 0
        LoggingSystem.bootstrap { _ in
            var handler: any LogHandler =
                format == .journal
                ? JournalLogHandler(identifier: "compliance-watch")
                : StderrLogHandler(prefixPriority: underManager)
            handler.logLevel = level
            return handler
        }
        var logger = Logger(label: "compliance-watch")
        logger.logLevel = level
        return logger
    }
}

func printError(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}
