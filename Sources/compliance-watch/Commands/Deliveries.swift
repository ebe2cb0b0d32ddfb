import ArgumentParser
import Foundation
import WatchCore

extension ComplianceWatchCommand {
    struct Deliveries: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List deliveries, or send events again.",
            subcommands: [List.self, Redeliver.self])

        struct List: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "List deliveries, newest first.")

            @OptionGroup var options: GlobalOptions
            @Option(help: "Only this sink.") var sink: String?
            @Option(help: "Only this state: pending, dead or delivered.") var state: String?
            @Option(help: "At most this many rows.") var limit = 50

            func validate() throws {
                if let state, DeliveryRecord.State(rawValue: state) == nil {
                    throw ValidationError("--state must be pending, dead or delivered")
                }
            }

            func run() async throws {
                let configuration = try options.loadConfigurationForReading()
                let records: [DeliveryRecord]
                do {
                    records = try StateStore.openReadOnly(path: configuration.state.path)
                        .deliveries(sink: sink, state: state.flatMap(DeliveryRecord.State.init(rawValue:)), limit: limit)
                } catch {
                    printError("\(error)")
                    throw ExitCodes.state
                }
                if records.isEmpty { print("no deliveries") }
                for r in records {
                    var line = "\(r.event.id)  \(r.sink)  \(r.state.rawValue)  attempts=\(r.attempts)  \(r.event.type)  \(r.applicationId)"
                    if let from = r.event.fromStatus { line += "  \(from) → \(r.event.toStatus)" } else { line += "  \(r.event.toStatus)" }
                    if let error = r.lastError { line += "  last error: \(error)" }
                    print(line)
                }
            }
        }

        struct Redeliver: AsyncParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Queue deliveries again with the same event id: one event, or every dead letter of a sink.",
                discussion: "The running daemon picks them up within seconds.")

            @OptionGroup var options: GlobalOptions
            @Option(help: "The event id (evt_…).") var event: String?
            @Option(help: "The sink; with --dead, every dead delivery of it.") var sink: String?
            @Flag(help: "Redeliver the sink's dead letters.") var dead = false

            func validate() throws {
                if event == nil, !(sink != nil && dead) {
                    throw ValidationError("give --event ID, or --sink NAME --dead")
                }
            }

            func run() async throws {
                let configuration = try options.loadConfigurationForReading()
                do {
                    let store = try StateStore.open(path: configuration.state.path)
                    let count = try event.map { try store.redeliver(eventId: $0, sink: sink) } ?? store.redeliverDead(sink: sink!)
                    print("queued \(count) deliveries")
                    if count == 0 { throw ExitCode(1) }
                } catch let exit as ExitCode {
                    throw exit
                } catch {
                    printError("\(error)")
                    throw ExitCodes.state
                }
            }
        }
    }
}
