import ArgumentParser
import Foundation
import WatchCore
import WatchSinks

extension ComplianceWatchCommand {
    struct Audit: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check the audit trail written by file sinks.",
            subcommands: [Verify.self, Report.self])

        /// The files' contents, in the order given (which must be chain order, oldest first).
        /// Exits 2 when a file cannot be read and 1 when the order is wrong.
        static func read(_ files: [String]) throws -> [(name: String, data: Data)] {
            var inputs: [(name: String, data: Data)] = []
            for file in files {
                guard let data = FileManager.default.contents(atPath: file) else {
                    printError("cannot read \(file)")
                    throw ExitCode(2)
                }
                inputs.append((file, data))
            }
            if let order = AuditChain.suggestedOrder(inputs) {
                print("BROKEN: the files are not in chain order (oldest first); try: \(order.joined(separator: " "))")
                throw ExitCode(1)
            }
            return inputs
        }

        /// The head the state database of `config` recorded for the sink that writes the last of
        /// `files`, with the store and the sink's name (all `nil` when there is none).
        static func recordedHead(config: String, files: [String]) throws -> (head: AuditHead?, store: StateStore?, sink: String?) {
            let configuration: DaemonConfiguration
            do {
                configuration = try DaemonConfiguration.load(path: config, secrets: false)
            } catch {
                printError("configuration is invalid:\n\(error.description)")
                throw ExitCodes.config
            }
            let last = URL(fileURLWithPath: files.last ?? "").standardizedFileURL.resolvingSymlinksInPath().path
            var store: StateStore?
            var heads: [String: AuditHead] = [:]
            do {
                store = try StateStore.openReadOnly(path: configuration.state.path)
                heads = try store?.auditHeads() ?? [:]
            } catch {
                printError("warning: cannot read the recorded heads, so truncation is not checked: \(error)")
            }
            guard let match = heads.first(where: { URL(fileURLWithPath: $0.value.path).resolvingSymlinksInPath().path == last }) else {
                print("note: no head recorded for \(files.last ?? "") in \(configuration.state.path)")
                return (nil, store, nil)
            }
            return (match.value, store, match.key)
        }

        struct Verify: AsyncParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Verify the hash chain of one audit file, or of rotated files given oldest first.",
                discussion: """
                    Prints OK and the number of lines, or names the first line that breaks the chain and how: \
                    edited, deleted, reordered, inserted or truncated. With --config, the end of the chain is also \
                    compared with the head recorded in the state database, which detects truncation, and the files are \
                    cross-checked with the database: an event recorded as written to the file sink but missing from the \
                    files (a hole) is named. Files given out of order are named with the right order. \
                    Exits 0 when intact, 1 when broken, 2 when a file cannot be read.
                    """)

            @Argument(help: "Audit files, oldest first (e.g. events.jsonl.2 events.jsonl.1 events.jsonl).")
            var files: [String]

            @Option(name: .shortAndLong, help: "A configuration file whose state database holds the chain's head.")
            var config: String?

            func run() async throws {
                let inputs = try Audit.read(files)
                var head: AuditHead?
                var holes: [String] = []
                if let config {
                    let recorded = try Audit.recordedHead(config: config, files: files)
                    head = recorded.head
                    if let store = recorded.store, let sink = recorded.sink {
                        holes = Self.holes(in: inputs, sink: sink, store: store)
                    }
                }
                let verdict = AuditChain.verify(files: inputs, head: head)
                print(verdict.description)
                if !holes.isEmpty {
                    print("HOLE: \(holes.count) event\(holes.count == 1 ? "" : "s") recorded for this file are not in it: \(holes.joined(separator: " "))")
                }
                if !verdict.isIntact || !holes.isEmpty { throw ExitCode(1) }
            }

            /// Events the database routed to `sink` and counts as written (or dead-lettered), from
            /// the first event in the files on, that the files do not hold.
            static func holes(in inputs: [(name: String, data: Data)], sink: String, store: StateStore) -> [String] {
                let entries = inputs.flatMap { AuditChain.entries($0.data) }
                let deliveries: [(eventId: String, state: DeliveryRecord.State, deliveredAt: Date?)]
                do {
                    deliveries = try store.auditDeliveries(sink: sink)
                } catch {
                    printError("warning: cannot read deliveries, so holes are not checked: \(error)")
                    return []
                }
                let present = Set(entries.map(\.eventId))
                // Files that start after seq 1 are the newer part of a rotated set: older events
                // are in files not given, so only events from the first one given on are expected.
                let from: Date? = entries.first.flatMap { first in
                    first.seq == 1 ? nil : deliveries.first { $0.eventId == first.eventId }?.deliveredAt
                }
                return deliveries.filter { delivery in
                    guard !present.contains(delivery.eventId) else { return false }
                    guard let from else { return true }
                    return delivery.state == .dead || (delivery.deliveredAt ?? .distantPast) >= from
                }.map(\.eventId)
            }
        }
    }
}
