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
                """
        )

        @OptionGroup var options: GlobalOptions

        func run() async throws {
            let (daemon, lock) = try options.makeDaemon()
            defer { withExtendedLifetime(lock) {} }
            let results = await daemon.runOnce()
            // One account's failure leaves the others' events recorded and delivered; exit 75 says "not all".
            var failed = false
            for (account, result) in results {
                let prefix = results.count > 1 ? "\(account): " : ""
                switch result {
                case .success(let report):
                    print(
                        "\(prefix)polled \(report.observed) applications with \(report.requests) requests; \(report.events.count) events"
                    )
                case .failure(let error):
                    printError("\(prefix)poll failed: \(error.description)")
                    failed = true
                }
            }
            if failed { throw ExitCodes.temporary }
        }
    }
}
