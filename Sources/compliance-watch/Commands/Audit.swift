import ArgumentParser
import Foundation
import WatchCore
import WatchSinks

extension ComplianceWatchCommand {
    struct Audit: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check the audit trail written by file sinks.",
            subcommands: [Verify.self])

        struct Verify: AsyncParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Verify the hash chain of one audit file, or of rotated files given oldest first.",
                discussion: """
                    Prints OK and the number of lines, or names the first line that breaks the chain and how: \
                    edited, deleted, reordered, inserted or truncated. With --config, the end of the chain is also \
                    compared with the head recorded in the state database, which detects truncation. \
                    Exits 0 when intact, 1 when broken, 2 when a file cannot be read.
                    """)

            @Argument(help: "Audit files, oldest first (e.g. events.jsonl.2 events.jsonl.1 events.jsonl).")
            var files: [String]

            @Option(name: .shortAndLong, help: "A configuration file whose state database holds the chain's head.")
            var config: String?

            func run() async throws {
                var inputs: [(name: String, data: Data)] = []
                for file in files {
                    guard let data = FileManager.default.contents(atPath: file) else {
                        printError("cannot read \(file)")
                        throw ExitCode(2)
                    }
                    inputs.append((file, data))
                }
                var head: AuditHead?
                if let config {
                    let configuration: DaemonConfiguration
                    do {
                        configuration = try DaemonConfiguration.load(path: config, secrets: false)
                    } catch {
                        printError("configuration is invalid:\n\(error.description)")
                        throw ExitCodes.config
                    }
                    let last = URL(fileURLWithPath: files.last ?? "").standardizedFileURL.resolvingSymlinksInPath().path
                    let heads = (try? StateStore.openReadOnly(path: configuration.state.path).auditHeads()) ?? [:]
                    head = heads.values.first { URL(fileURLWithPath: $0.path).resolvingSymlinksInPath().path == last }
                    if head == nil { print("note: no head recorded for \(files.last ?? "") in \(configuration.state.path)") }
                }
                let verdict = AuditChain.verify(files: inputs, head: head)
                print(verdict.description)
                if !verdict.isIntact { throw ExitCode(1) }
            }
        }
    }
}
