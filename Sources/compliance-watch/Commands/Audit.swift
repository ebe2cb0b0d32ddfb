import ArgumentParser
import Foundation
import WatchCore
import WatchDaemon
import WatchSinks

extension ComplianceWatchCommand {
    struct Audit: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check the audit trail written by file sinks.",
            subcommands: [Verify.self, Report.self, AuditInit.self]
        )

        /// The files' contents, in the order given (any order: they are merged by seq).
        /// Exits 2 when a file cannot be read.
        static func read(_ files: [String]) throws -> [(name: String, data: Data)] {
            var inputs: [(name: String, data: Data)] = []
            for file in files {
                guard let data = FileManager.default.contents(atPath: file) else {
                    printError("cannot read \(file)")
                    throw ExitCode(2)
                }
                inputs.append((file, data))
            }
            return inputs
        }

        /// The head the state database of `config` recorded for the sink that writes one of
        /// `files`, with the store and the sink's name (all `nil` when there is none).
        static func recordedHead(
            config: String,
            files: [String]
        ) throws -> (head: AuditHead?, store: StateStore?, sink: String?, stateDirectory: String?) {
            let configuration: DaemonConfiguration
            do {
                configuration = try DaemonConfiguration.load(path: config, secrets: false)
            } catch {
                printError("configuration is invalid:\n\(error.description)")
                throw ExitCodes.config
            }
            let given = Set(files.map { URL(fileURLWithPath: $0).standardizedFileURL.resolvingSymlinksInPath().path })
            let directory = URL(fileURLWithPath: configuration.state.path).deletingLastPathComponent().path
            var store: StateStore?
            var heads: [String: AuditHead] = [:]
            do {
                store = try StoreOpener.open(configuration.state, use: .reading)
                heads = try store?.auditHeads() ?? [:]
            } catch {
                printError("warning: cannot read the recorded heads, so truncation is not checked: \(error)")
            }
            // Files come in any order: the head of whichever of them a sink writes. The chain's head
            // (SINK), not a host's file head (SINK@HOST:PATH), when both name the file.
            let candidates = heads.filter {
                given.contains(URL(fileURLWithPath: $0.value.path).resolvingSymlinksInPath().path)
            }
            .sorted { $0.key < $1.key }
            guard let match = candidates.first(where: { !$0.key.contains("@") }) ?? candidates.first else {
                print(
                    "note: no head recorded for \(files.joined(separator: " ")) in \(configuration.state.url.flatMap { try? PostgresLocation(parsing: $0).description } ?? configuration.state.path)"
                )
                return (nil, store, nil, directory)
            }
            return (match.value, store, match.key, directory)
        }

        struct Verify: AsyncParsableCommand {
            static let configuration = CommandConfiguration(
                abstract:
                    "Verify the hash chain of one audit file, or of rotated files and other hosts' files, in any order.",
                discussion: """
                    Prints OK and the number of lines, or names the first line that breaks the chain and how: \
                    edited, deleted, reordered, inserted or truncated. With --config, the end of the chain is also \
                    compared with the head recorded in the state database, which detects truncation, and the files are \
                    cross-checked with the database: an event recorded as written to the file sink but missing from the \
                    files (a hole) is named. Files may be given in any order, and with several instances on PostgreSQL, \
                    every host's files together: lines are merged by seq. \
                    Exits 0 when intact, 1 when broken, 2 when a file cannot be read.
                    """
            )

            @Argument(
                help:
                    "Audit files, rotated ones and every host's, in any order (e.g. events.jsonl.2 events.jsonl.1 events.jsonl)."
            )
            var files: [String]

            @Option(name: .shortAndLong, help: "A configuration file whose state database holds the chain's head.")
            var config: String?

            @Option(
                name: .customLong("verification-key"),
                help: "The verification key (audit init, or audit-verification.SINK.key) that checks every line's seal."
            )
            var verificationKey: String?

            func run() async throws {
                let inputs = try Audit.read(files)
                var head: AuditHead?
                var holes: [String] = []
                var key: AuditSeal.Key?
                if let verificationKey {
                    do {
                        key = try AuditSeal.read(verificationKey)
                    } catch {
                        printError("cannot read the verification key \(verificationKey): \(error)")
                        throw ExitCode(2)
                    }
                }
                if let config {
                    let recorded = try Audit.recordedHead(config: config, files: files)
                    head = recorded.head
                    if let store = recorded.store, let sink = recorded.sink {
                        holes = Self.holes(in: inputs, sink: sink, store: store)
                    }
                    if key == nil, let directory = recorded.stateDirectory, let sink = recorded.sink {
                        // What is still on this host: the verification key while it is here (every
                        // epoch), else the current sealing key (its epoch and later ones).
                        let (sealing, verification) = AuditSeal.files(in: directory, sink: sink)
                        key = (try? AuditSeal.read(verification)) ?? (try? AuditSeal.read(sealing))
                    }
                }
                let verdict = AuditChain.verify(files: inputs, head: head, key: key)
                print(verdict.description)
                if !verdict.sealSummary.isEmpty { print(verdict.sealSummary) }
                if !holes.isEmpty {
                    print(
                        "HOLE: \(holes.count) event\(holes.count == 1 ? "" : "s") recorded for this file are not in it: \(holes.joined(separator: " "))"
                    )
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

    struct AuditInit: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "init",
            abstract: "Create the audit sealing key and print the verification key once.",
            discussion: """
                For each file sink, writes audit-sealing.SINK.key and audit-verification.SINK.key (mode 0600) next \
                to the state database, as the daemon does on its first start, and prints the verification key. Keep that key off this host (and \
                delete audit-verification.SINK.key here): with it, audit verify --verification-key checks every line ever \
                sealed, and a key stolen from this host cannot forge a line sealed before the theft. Refuses when a \
                sealing key exists.
                """
        )

        @OptionGroup var options: GlobalOptions

        func run() async throws {
            let configuration = try options.loadConfigurationForReading()
            let directory = URL(fileURLWithPath: configuration.state.path).deletingLastPathComponent().path
            let sinks = configuration.sinks.filter { $0.kind == .file }.map(\.name)
            guard !sinks.isEmpty else {
                printError("no file sink in \(configuration.sourcePath): nothing to seal")
                throw ExitCode(1)
            }
            var created = 0
            for sink in sinks {
                do {
                    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
                    guard
                        let key = try AuditSeal.initialize(
                            directory: directory,
                            sink: sink,
                            interval: configuration.audit.sealInterval
                        )
                    else {
                        printError(
                            "sink \(sink): a sealing key already exists in \(directory); the chain keeps using it"
                        )
                        continue
                    }
                    let encoder = JSONEncoder()
                    encoder.outputFormatting = [.sortedKeys]
                    print("sink \(sink): " + String(decoding: try encoder.encode(key), as: UTF8.self))
                    printError(
                        """
                        sink \(sink): verification key printed above and written to \(AuditSeal.files(in: directory, sink: sink).verification).
                        Store it off this host, then delete that file: audit verify --verification-key FILE checks every seal.
                        """
                    )
                    created += 1
                } catch {
                    printError("cannot create the sealing key of sink \(sink) in \(directory): \(error)")
                    throw ExitCodes.state
                }
            }
            if created == 0 { throw ExitCode(1) }
        }
    }
}
