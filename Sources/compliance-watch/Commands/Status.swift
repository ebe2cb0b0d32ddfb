import ArgumentParser
import Foundation
import WatchCore

extension ComplianceWatchCommand {
    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show applications by status, the last poll, and pending and dead deliveries.",
            discussion: "Reads the state database read-only; safe while the daemon runs.")

        @OptionGroup var options: GlobalOptions

        func run() async throws {
            let configuration = try options.loadConfigurationForReading()
            let store: StateStore
            let summary: StatusSummary
            do {
                store = try StateStore.openReadOnly(path: configuration.state.path)
                summary = try store.summary()
            } catch {
                printError("\(error)")
                throw ExitCodes.state
            }
            print("state: \(configuration.state.path)")
            for (account, poll) in summary.pollStates {
                let last = poll.lastPollAt.map(EventTime.format) ?? "never"
                let result = poll.lastPollOK == true ? "ok" : "failed: \(poll.lastError ?? "unknown")"
                print("account \(account): last poll \(last) \(result); last full sync \(poll.lastFullSyncAt.map(EventTime.format) ?? "never")")
            }
            print("applications: \(summary.applicationsByStatus.reduce(0) { $0 + $1.count })")
            for (status, count) in summary.applicationsByStatus {
                print("  \(status.padding(toLength: 12, withPad: " ", startingAt: 0)) \(count)")
            }
            print("events: \(summary.events)")
            print("deliveries:")
            if summary.deliveries.isEmpty { print("  none") }
            for (sink, state, count) in summary.deliveries {
                print("  \(sink.padding(toLength: 16, withPad: " ", startingAt: 0)) \(state.padding(toLength: 10, withPad: " ", startingAt: 0)) \(count)")
            }
        }
    }
}
