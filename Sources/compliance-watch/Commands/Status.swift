import CurlHTTP
import ArgumentParser
import Foundation
import WatchCore
import WatchDaemon

extension ComplianceWatchCommand {
    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show applications by status, the last poll, and pending and dead deliveries.",
            discussion: """
                Reads the state database read-only; safe while the daemon runs. With --state it needs no \
                configuration file at all, so it works while the file is broken (stalls are then judged against \
                the default 30 s poll interval).
                """
        )

        @OptionGroup var options: GlobalOptions
        @Option(help: "The state database to read, instead of the one the configuration names.") var state: String?
        @Flag(help: "Print one JSON object (the shape is documented in the README) instead of text.") var json = false

        func run() async throws {
            let statePath: String
            var pollSettings = DaemonConfiguration.Poll()  // the defaults, without a configuration
            var names: [String: String] = [:]
            var configured: DaemonConfiguration?
            if let state {
                statePath = state
            } else {
                let configuration = try options.loadConfigurationForReading()
                statePath = configuration.state.path
                pollSettings = configuration.poll
                names = Dictionary(
                    configuration.accounts.map { ($0.authId, $0.name) },
                    uniquingKeysWith: { first, _ in first }
                )
                configured = configuration
            }
            let store: StateStore
            let summary: StatusSummary
            var lease: LeaseStatus?
            do {
                if let configured, configured.state.url != nil {
                    store = try StoreOpener.open(configured.state, use: .reading)
                    lease = try LeaseStatus.read(store, lease: configured.ha.lease)
                } else {
                    store = try StateStore.openReadOnly(path: statePath)
                }
                summary = try store.summary()
            } catch {
                printError("\(error)")
                throw ExitCodes.state
            }
            let location = configured?.state.url.flatMap { try? PostgresLocation(parsing: $0).description } ?? statePath
            // With a lease, "the daemon" is whichever instance leads (its pid is on its own host).
            let holder: Result<(pid: Int32, since: Date?)?, any Error> =
                if let lease {
                    .success(lease.expired ? nil : lease.pid.map { ($0, lease.since) })
                } else {
                    Result(catching: { try StateLock.holder(statePath: statePath) })
                }
            if json {
                var document = Self.document(
                    summary,
                    statePath: location,
                    holder: holder,
                    stallAfter: pollSettings.stallAfter.inSeconds,
                    names: names
                )
                document.ha = lease.map(Self.haDocument)
                try JSONOutput.print(document)
                return
            }
            print("state: \(location)")
            if let lease {
                let since = lease.since.map { " since \(EventTime.format($0))" } ?? ""
                print(
                    "leader: \(lease.leader.map { "\($0)\(since)\(lease.expired ? " (lease expired: nobody leads)" : "")" } ?? "none yet"); token \(lease.token)"
                )
                print(
                    "standbys seen in the last lease period: \(lease.standbys.isEmpty ? "none" : lease.standbys.joined(separator: ", "))"
                )
            } else {
                switch holder {
                case .success(let holder?):
                    print(
                        "daemon: running, pid \(holder.pid)"
                            + (holder.since.map { " since \(EventTime.format($0))" } ?? "")
                    )
                case .success(nil): print("daemon: not running")
                case .failure(let error): print("daemon: unknown (\(error))")
                }
            }
            let stallAfter = pollSettings.stallAfter.inSeconds
            let now = Date()
            for (account, poll) in summary.pollStates {
                let last = poll.lastPollAt.map(EventTime.format) ?? "never"
                let result = poll.lastPollOK == true ? "ok" : "failed: \(poll.lastError ?? "unknown")"
                let name = names[account].map { $0 == account ? account : "\($0) (\(account))" } ?? account
                print(
                    "account \(name): \(summary.applicationsByAccount[account] ?? 0) applications; last poll \(last) \(result); last full sync \(poll.lastFullSyncAt.map(EventTime.format) ?? "never")"
                )
                if poll.lastPollOK != true, let success = poll.lastSuccessAt,
                    now.timeIntervalSince(success) > stallAfter
                {
                    print("  stalled: no complete poll since \(EventTime.format(success))")
                }
            }
            if !summary.problems.isEmpty {
                print("unconfirmed applications (missing from their list, and the direct GET keeps failing):")
                for problem in summary.problems.prefix(20) {
                    let stalled = now.timeIntervalSince(problem.since) > stallAfter ? "stalled: " : ""
                    print(
                        "  \(stalled)\(problem.applicationId) since \(EventTime.format(problem.since)): \(problem.problem)"
                    )
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
                print(
                    "  \(sink.padding(toLength: 16, withPad: " ", startingAt: 0)) \(state.rawValue.padding(toLength: 10, withPad: " ", startingAt: 0)) \(count)"
                )
            }
            let sinks = Set(summary.deliveries.map(\.sink)).union(summary.disabledSinks.map(\.sink)).sorted()
            if !sinks.isEmpty { print("sinks:") }
            for sink in sinks {
                let disabled = summary.disabledSinks.first { $0.sink == sink }
                let health = summary.health.first { $0.sink == sink }
                let blocked = summary.blocked.filter { $0.sink == sink }
                var line = "  \(sink.padding(toLength: 16, withPad: " ", startingAt: 0)) "
                if let disabled {
                    line +=
                        "disabled (\(disabled.reason) at \(EventTime.format(disabled.at))); deliveries held until reload or restart"
                } else if let health {
                    line += "retrying \(health.retrying): \(health.lastError ?? "failing")"
                } else {
                    line += "delivering"
                }
                if !blocked.isEmpty { line += "; \(blocked.count) blocked" }
                print(line)
                for block in blocked.prefix(10) {
                    print(
                        "    \(block.applicationId): \(block.waiting) waiting behind dead \(block.blockingEventId) (\(block.reason)); redeliver or skip it"
                    )
                }
            }
        }
    }
}

extension ComplianceWatchCommand.Status {
    static func haDocument(_ lease: LeaseStatus) -> JSONOutput.Status.HA {
        JSONOutput.Status.HA(
            leader: Nullable(lease.expired ? nil : lease.leader),
            since: Nullable(lease.since.map(EventTime.format)),
            token: lease.token,
            standbys: lease.standbys
        )
    }

    /// The `--json` document: the same facts as the text, for scripts.
    static func document(
        _ summary: StatusSummary,
        statePath: String,
        holder: Result<(pid: Int32, since: Date?)?, any Error>,
        stallAfter: Double,
        names: [String: String] = [:],
        now: Date = Date()
    ) -> JSONOutput.Status {
        let format = { (date: Date?) in Nullable(date.map(EventTime.format)) }
        let daemon: JSONOutput.Status.Daemon =
            switch holder {
            case .success(let holder?): .init(state: "running", pid: Nullable(holder.pid), since: format(holder.since))
            case .success(nil): .init(state: "stopped", pid: Nullable(nil), since: Nullable(nil))
            case .failure: .init(state: "unknown", pid: Nullable(nil), since: Nullable(nil))
            }
        let accounts = summary.pollStates.map { account, poll in
            JSONOutput.Status.Account(
                account: account,
                name: names[account] ?? account,
                applications: summary.applicationsByAccount[account] ?? 0,
                lastPollAt: format(poll.lastPollAt),
                lastPollOk: Nullable(poll.lastPollOK),
                lastError: Nullable(poll.lastError),
                lastFullSyncAt: format(poll.lastFullSyncAt),
                lastSuccessAt: format(poll.lastSuccessAt),
                stalled: poll.lastPollOK != true
                    && (poll.lastSuccessAt.map { now.timeIntervalSince($0) > stallAfter } ?? false)
            )
        }
        let sinkNames = Set(summary.deliveries.map(\.sink)).union(summary.disabledSinks.map(\.sink)).sorted()
        let sinks = sinkNames.map { name in
            let disabled = summary.disabledSinks.first { $0.sink == name }
            let health = summary.health.first { $0.sink == name }
            return JSONOutput.Status.Sink(
                name: name,
                health: disabled != nil ? "disabled" : health != nil ? "retrying" : "delivering",
                retrying: health?.retrying ?? 0,
                lastError: Nullable(disabled?.reason ?? health?.lastError),
                disabledAt: format(disabled?.at),
                blocked: summary.blocked.filter { $0.sink == name }.map {
                    .init(
                        applicationId: $0.applicationId,
                        blockingEventId: $0.blockingEventId,
                        reason: $0.reason,
                        waiting: $0.waiting
                    )
                }
            )
        }
        let unconfirmed = summary.problems.map {
            JSONOutput.Status.Unconfirmed(
                account: $0.account,
                applicationId: $0.applicationId,
                problem: $0.problem,
                since: EventTime.format($0.since),
                stalled: now.timeIntervalSince($0.since) > stallAfter
            )
        }
        return JSONOutput.Status(
            state: statePath,
            daemon: daemon,
            accounts: accounts,
            applications: .init(
                total: summary.applicationsByStatus.reduce(0) { $0 + $1.count },
                byStatus: Dictionary(summary.applicationsByStatus.map { ($0.status, $0.count) }, uniquingKeysWith: +)
            ),
            events: summary.events,
            deliveries: summary.deliveries.map { .init(sink: $0.sink, state: $0.state.rawValue, count: $0.count) },
            sinks: sinks,
            unconfirmed: unconfirmed,
            stalled: accounts.contains { $0.stalled } || unconfirmed.contains { $0.stalled }
        )
    }
}
