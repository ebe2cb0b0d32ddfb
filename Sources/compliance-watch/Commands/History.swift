import ArgumentParser
import Foundation
import WatchCore
import WatchDaemon

extension ComplianceWatchCommand {
    struct History: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List one application's transitions, oldest first, with each sink's delivery state.",
            discussion: """
                Reads the state database read-only; safe while the daemon runs and needs no token. APPLICATION is an \
                id, or an alias that names one application. Exit codes: 1 no such application (or an ambiguous \
                alias), 73 unusable state database.
                """
        )

        @OptionGroup var options: GlobalOptions
        @Argument(help: "The application's id or alias.") var application: String
        @Flag(help: "Print a JSON array (the shape is documented in the README) instead of text.") var json = false

        func run() async throws {
            let configuration = try options.loadConfigurationForReading()
            let store: StateStore
            let entries: [HistoryEntry]
            let account: String, id: String
            do {
                store = try StoreOpener.open(configuration.state, use: .reading)
                (account, id) = try store.resolveApplication(application)
                entries = try store.history(account: account, applicationId: id)
            } catch let error as HistoryLookupError {
                printError(error.description)
                throw ExitCode(1)
            } catch {
                printError("\(error)")
                throw ExitCodes.state
            }
            if json {
                try JSONOutput.print(
                    entries.map { entry in
                        let event = entry.event
                        return JSONOutput.HistoryEntry(
                            detectedAt: event.data.detectedAt,
                            type: event.type.rawValue,
                            account: event.account,
                            applicationId: event.data.application.complianceApplicationId,
                            alias: Nullable(event.data.application.alias),
                            from: Nullable(event.fromStatus?.rawValue),
                            to: event.type == .deleted ? "deleted" : event.toStatus.rawValue,
                            rejectionReason: Nullable(event.data.application.rejectionReason),
                            eventId: event.id,
                            deliveries: entry.deliveries.map {
                                .init(
                                    sink: $0.sink,
                                    state: $0.state.rawValue,
                                    attempts: $0.attempts,
                                    lastError: Nullable($0.lastError)
                                )
                            }
                        )
                    }
                )
                return
            }
            let alias = entries.last?.event.data.application.alias.map { " (\($0))" } ?? ""
            print(
                "application \(id)\(alias), account \(account): \(entries.count) transition\(entries.count == 1 ? "" : "s")"
            )
            for entry in entries {
                let event = entry.event
                let to = event.type == .deleted ? "deleted" : event.toStatus.rawValue
                var what = "\(event.fromStatus.map { "\($0.rawValue) → " } ?? "")\(to)"
                if event.type == .updated { what += " (updated)" }
                if let reason = event.data.application.rejectionReason, event.toStatus == .rejected {
                    what += ": \(reason)"
                }
                let sinks = entry.deliveries.map { "\($0.sink) \($0.state.rawValue)" }.joined(separator: ", ")
                print("\(event.data.detectedAt)  \(what)  \(event.id)  [\(sinks.isEmpty ? "no sinks" : sinks)]")
            }
        }
    }
}
