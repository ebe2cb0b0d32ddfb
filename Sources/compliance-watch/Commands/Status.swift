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
            let stallAfter = Backoff.seconds(configuration.poll.interval * 3)
            let now = Date()
            for (account, poll) in summary.pollStates {
                let last = poll.lastPollAt.map(EventTime.format) ?? "never"
                let result = poll.lastPollOK == true ? "ok" : "failed: \(poll.lastError ?? "unknown")"
                print("account \(account): last poll \(last) \(result); last full sync \(poll.lastFullSyncAt.map(EventTime.format) ?? "never")")
                if poll.lastPollOK != true, let success = poll.lastSuccessAt, now.timeIntervalSince(success) > stallAfter {
                    print("  stalled: no complete poll since \(EventTime.format(success))")
                }
            }
            if !summary.problems.isEmpty {
                print("unconfirmed applications (missing from their list, and the direct GET keeps failing):")
                for problem in summary.problems.prefix(20) {
                    let stalled = now.timeIntervalSince(problem.since) > stallAfter ? "stalled: " : ""
                    print("  \(stalled)\(problem.applicationId) since \(EventTime.format(problem.since)): \(problem.problem)")
                }
                if summary.problems.count > 20 { print("  … and \(summary.problems.count - 20) more") }
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
            for disabled in summary.disabledSinks {
                print("sink \(disabled.sink): disabled since \(EventTime.format(disabled.at)) until the daemon restarts: \(disabled.reason)")
            }
        }
    }
}
