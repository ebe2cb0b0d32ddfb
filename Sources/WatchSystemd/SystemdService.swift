import Foundation
import Logging
import ServiceLifecycle
import UnixSignals
import WatchCore

/// The daemon's side of the service-manager conversation.
///
/// - `READY=1` when it starts (the configuration is valid and the store open by then; the API
///   may still be unreachable, which must not fail the start).
/// - `STATUS=` every few seconds, from ``StatusBoard``.
/// - `WATCHDOG=1` every 5 s, or every half `WATCHDOG_USEC` when that is shorter, only while the
///   poll loops' ``Heartbeat``s are all fresh (one per account: a hung account is a hung daemon). (Pings share the status tick: more often than half the
///   timeout costs nothing and keeps one timer.)
/// - SIGHUP: `RELOADING=1` + `MONOTONIC_USEC`, the reload action, then `READY=1`.
/// - SIGTERM/SIGINT: `STOPPING=1` at once; the service group then stops the rest.
///
/// Put it first in the service group, so it is the last to stop.
public struct SystemdService: Service {
    /// What a reload did: `nil` when it succeeded, or why the new configuration was refused.
    public typealias Reload = @Sendable () async -> String?

    let notifier: SystemdNotifier
    let status: StatusBoard
    let heartbeats: [Heartbeat]
    let reload: Reload
    let logger: Logger
    let statusInterval: Duration

    /// Creates the service; `reload` runs on SIGHUP and returns the problems, or `nil`.
    public init(
        notifier: SystemdNotifier = SystemdNotifier(),
        status: StatusBoard,
        heartbeats: [Heartbeat],
        reload: @escaping Reload,
        logger: Logger,
        statusInterval: Duration = .seconds(5)
    ) {
        self.notifier = notifier
        self.status = status
        self.heartbeats = heartbeats
        self.reload = reload
        self.logger = logger
        self.statusInterval = statusInterval
    }

    public func run() async throws {
        notifier.ready(status: status.current.summary)
        let ping = notifier.watchdogPingInterval()
        // A loop silent for longer than this is considered hung (heartbeats come at least every second).
        let stale = max(ping ?? .seconds(2), .seconds(2))
        let signals = await UnixSignalsSequence(trapping: .sighup, .sigterm, .sigint)

        // Once STOPPING=1 is sent, the status line must not go back to "tracking …".
        let stopping = StopSignal()
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                let tick = min(ping ?? statusInterval, statusInterval)
                var sinceStatus = Duration.zero
                while !Task.isCancelled {
                    try? await Task.sleep(for: tick)
                    sinceStatus += tick
                    if ping != nil, heartbeats.allSatisfy({ $0.age < stale }) { notifier.watchdog() }
                    if sinceStatus >= statusInterval, !stopping.isRaised {
                        sinceStatus = .zero
                        notifier.status(status.current.summary)
                    }
                }
            }
            group.addTask {
                for await signal in signals {
                    switch signal {
                    case .sighup:
                        notifier.reloading()
                        logger.notice("reloading")
                        if let problem = await reload() {
                            // The reason goes in the message itself: plain `journalctl -u` shows no fields.
                            let first = problem.split(whereSeparator: \.isNewline).first.map(String.init) ?? problem
                            let short = first.count > 100 ? first.prefix(100) + "…" : first
                            status.update {
                                $0.configWarning = "reload refused (\(short)), still running the previous configuration"
                            }
                            logger.error(
                                "reload refused: \(problem); the previous configuration keeps running",
                                metadata: ["cw.error": "\(problem)"]
                            )
                        } else {
                            status.update { $0.configWarning = nil }
                            logger.notice("reloaded")
                        }
                        notifier.ready(status: status.current.summary)
                    default:
                        stopping.raise()
                        notifier.stopping(status: "stopping: finishing in-flight deliveries")
                    }
                }
            }
            try? await gracefulShutdown()
            stopping.raise()
            notifier.stopping(status: "stopping")
            group.cancelAll()
        }
    }
}

extension SystemdService: CustomStringConvertible, CustomDebugStringConvertible {
    /// Short, and free of configuration values: service-lifecycle logs services by description.
    public var description: String { "SystemdService" }
    public var debugDescription: String { description }
}
