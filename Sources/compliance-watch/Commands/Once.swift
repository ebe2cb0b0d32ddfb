import ArgumentParser
import WatchCore
import WatchDaemon

extension ComplianceWatchCommand {
    struct Once: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run one full poll cycle, deliver what is due, and exit (for cron and timers).",
            discussion: """
                Exit codes: 0 done, 75 the API could not be polled or another process (a running daemon) holds the \
                state, 78 invalid configuration, 73 unusable state database.
                """)

        @OptionGroup var options: GlobalOptions

        func run() async throws {
            let (daemon, lock) = try options.makeDaemon()
            defer { withExtendedLifetime(lock) {} }
            do {
                let report = try await daemon.runOnce()
                print("polled \(report.observed) applications with \(report.requests) requests; \(report.events.count) events")
            } catch {
                printError("poll failed: \(error.description)")
                throw ExitCodes.temporary
            }
        }
    }
}
