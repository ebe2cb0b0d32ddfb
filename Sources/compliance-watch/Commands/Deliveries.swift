import ArgumentParser
import Foundation
import WatchCore
import WatchDaemon

extension ComplianceWatchCommand {
    struct Deliveries: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List deliveries, send events again, or give up on one.",
            subcommands: [List.self, Redeliver.self, Skip.self]
        )

        struct List: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "List deliveries, newest first.")

            @OptionGroup var options: GlobalOptions
            @Option(help: "Only this sink.") var sink: String?
            @Option(help: "Only this state: pending, dead, delivered or skipped.") var state: String?
            @Option(help: "At most this many rows.") var limit = 50
            @Flag(help: "Print a JSON array (the shape is documented in the README) instead of text.") var json = false

            func validate() throws {
                if let state, DeliveryRecord.State(rawValue: state) == nil {
                    throw ValidationError("--state must be pending, dead, delivered or skipped")
                }
            }

            func run() async throws {
                let configuration = try options.loadConfigurationForReading()
                let records: [DeliveryRecord]
                let blocked: [BlockedApplication]
                do {
                    let store = try StoreOpener.open(configuration.state, use: .reading)
                    records = try store.deliveries(
                        sink: sink,
                        state: state.flatMap(DeliveryRecord.State.init(rawValue:)),
                        limit: limit
                    )
                    blocked = try store.blocked()
                } catch {
                    printError("\(error)")
                    throw ExitCodes.state
                }
                func blocker(_ r: DeliveryRecord) -> String? {
                    guard r.state == .pending else { return nil }
                    return blocked.first {
                        $0.sink == r.sink && $0.account == r.account && $0.applicationId == r.applicationId
                            && $0.blockingEventId != r.event.id
                    }?.blockingEventId
                }
                if json {
                    try JSONOutput.print(
                        records.map { r in
                            JSONOutput.Delivery(
                                eventId: r.event.id,
                                sink: r.sink,
                                state: r.state.rawValue,
                                attempts: r.attempts,
                                type: r.event.type.rawValue,
                                applicationId: r.applicationId,
                                from: Nullable(r.event.fromStatus?.rawValue),
                                to: r.event.toStatus.rawValue,
                                lastError: Nullable(r.lastError),
                                createdAt: EventTime.format(r.createdAt),
                                nextAttemptAt: Nullable(r.state == .pending ? EventTime.format(r.nextAttemptAt) : nil),
                                deliveredAt: Nullable(r.deliveredAt.map(EventTime.format)),
                                blockedBy: Nullable(blocker(r))
                            )
                        }
                    )
                    return
                }
                if records.isEmpty { print("no deliveries") }
                for r in records {
                    var line =
                        "\(r.event.id)  \(r.sink)  \(r.state.rawValue)  attempts=\(r.attempts)  \(r.event.type)  \(r.applicationId)"
                    if let from = r.event.fromStatus {
                        line += "  \(from) → \(r.event.toStatus)"
                    } else {
                        line += "  \(r.event.toStatus)"
                    }
                    if let block = blocker(r) { line += "  blocked behind dead \(block)" }
                    if let error = r.lastError { line += "  last error: \(error)" }
                    print(line)
                }
            }
        }

        struct Redeliver: AsyncParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Queue deliveries again with the same event id: one event, or every dead letter of a sink.",
                discussion: "The running daemon picks them up within seconds."
            )

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
                let configured = configuration.sinks.map(\.name)
                if let sink, !configured.contains(sink) {
                    printError(
                        "no sink named \(sink) in \(configuration.sourcePath) (sinks: \(configured.joined(separator: ", ")))"
                    )
                    throw ExitCode(64)
                }
                let appendOnly = Set(configuration.sinks.filter { $0.kind == .file }.map(\.name))
                let count: Int
                do {
                    let store = try StoreOpener.open(configuration.state, use: .command)
                    if let event {
                        guard try store.hasEvent(id: event) else {
                            printError("no event \(event) in \(configuration.state.path)")
                            throw ExitCode(1)
                        }
                        let result = try store.redeliver(eventId: event, sink: sink, appendOnly: appendOnly)
                        for kept in result.kept { print("\(kept): already in the audit file; not appended again") }
                        count = result.requeued
                    } else {
                        count = try store.redeliverDead(sink: sink!)
                    }
                } catch let exit as ExitCode {
                    throw exit
                } catch {
                    printError("\(error)")
                    throw ExitCodes.state
                }
                print("queued \(count) deliveries")
                if count == 0 { throw ExitCode(1) }
            }
        }

        struct Skip: AsyncParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Give up on one event for one sink, so the application's later events flow.",
                discussion: """
                    An application's events go to each sink in order, so a dead letter holds back the ones after it. \
                    This marks the event's pending or dead delivery to the sink as skipped (recorded, with the time, in \
                    its last error); the running daemon sends the later events within seconds.
                    """
            )

            @OptionGroup var options: GlobalOptions
            @Option(help: "The event id (evt_…).") var event: String
            @Option(help: "The sink.") var sink: String

            func run() async throws {
                let configuration = try options.loadConfigurationForReading()
                if let file = configuration.sinks.first(where: { $0.name == sink && $0.kind == .file }) {
                    printError(
                        "\(file.name) is an audit file: its events are never skipped (the file would have a hole)"
                    )
                    throw ExitCode(64)
                }
                let count: Int
                do {
                    count = try StoreOpener.open(configuration.state, use: .command).skip(eventId: event, sink: sink)
                } catch {
                    printError("\(error)")
                    throw ExitCodes.state
                }
                guard count > 0 else {
                    printError("no pending or dead delivery of \(event) to \(sink)")
                    throw ExitCode(1)
                }
                print("skipped \(event) for \(sink)")
            }
        }
    }
}
