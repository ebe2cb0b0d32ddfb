import CurlHTTP
import Foundation
import Logging
import PlivoCompliance
import WatchCore
import WatchSinks

/// Instruction counts under `valgrind --tool=callgrind`: repeatable where wall and CPU time are
/// not. Each figure is the difference between two child runs that differ only in how many hot
/// cycles (or deliveries) they do, so start-up, the baseline and the database's opening cancel out.
extension Bench {
    /// Child modes, run under valgrind by ``instructionCounts(n:changeableShare:)``.
    static func callgrindChild(_ arguments: [String]) async throws {
        switch arguments.first {
        case "callgrind-hot":
            // callgrind-hot BASE_URL STATE_PATH CYCLES
            let store = try StateStore.open(path: arguments[2])
            let poller = steadyPoller(arguments[1], store: store)
            for _ in 0..<Int(arguments[3])! { _ = try await poller.runCycle(full: false, logger: quiet) }
        case "callgrind-probe":
            // The smallest use of Swift concurrency: can valgrind run it at all?
            let value = await Task { 6 * 7 }.value
            precondition(value == 42)
        case "callgrind-deliver":
            // callgrind-deliver DIRECTORY EVENTS
            let directory = URL(fileURLWithPath: arguments[1])
            let store = try StateStore.open(path: directory.appendingPathComponent("state.db").path)
            let sink = FileSink(
                name: "s",
                configuration: .init(path: directory.appendingPathComponent("events.jsonl").path),
                store: store
            )
            try recordBurst(store: store, events: Int(arguments[2])!)
            let dispatcher = Dispatcher(
                sink: sink,
                store: store,
                settings: .init(
                    concurrency: 32,
                    maxAttempts: 3,
                    maxAge: .seconds(60),
                    backoff: Backoff(base: .milliseconds(10), cap: .seconds(1))
                ),
                doorbell: Doorbell(),
                logger: quiet
            )
            await dispatcher.drain()
        default:
            throw BenchError("unknown child mode \(arguments.first ?? "")")
        }
    }

    /// Records `events` created events, one application each, in one commit.
    static func recordBurst(store: StateStore, events: Int) throws {
        var observations: [CycleOutcome.Observation] = []
        for i in 0..<events {
            let app = ComplianceApplication(id: "app-\(i)", alias: "bench-\(i)", status: .accepted)
            observations.append(.init(snapshot: .observed(app, account: authId, version: 0), change: .created))
        }
        try store.commit(
            CycleOutcome(account: authId, observations: observations, deletions: [], fullSync: false, at: Date()),
            sinks: [SinkRoute(name: "s", filter: EventFilter())]
        )
    }

    /// Instructions per hot cycle and per delivery to the file sink, or why they cannot be counted here.
    static func instructionCounts(n: Int, changeableShare: Double) async throws -> Result<[String: Any], BenchError> {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/valgrind") else {
            return .failure(BenchError("valgrind is not installed (apt-get install valgrind)"))
        }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("cw-bench-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        do {
            _ = try callgrind(["callgrind-probe"], in: directory)
        } catch {
            return .failure(
                BenchError(
                    "valgrind cannot run this toolchain's Swift concurrency here (\(error)); see README, Performance"
                )
            )
        }
        let (sandbox, _) = try await seededSandbox(n: n, changeableShare: changeableShare)
        defer { sandbox.stop() }
        let state = directory.appendingPathComponent("hot.db").path
        let poller = steadyPoller(sandbox.baseURL, store: try StateStore.open(path: state))
        _ = try await poller.runCycle(full: true, logger: quiet)

        let (fewCycles, manyCycles) = (1, 4)
        let hot1 = try callgrind(["callgrind-hot", sandbox.baseURL, state, "\(fewCycles)"], in: directory)
        let hot2 = try callgrind(["callgrind-hot", sandbox.baseURL, state, "\(manyCycles)"], in: directory)
        let (fewEvents, manyEvents) = (100, 600)
        func deliver(_ events: Int) throws -> Double {
            let run = directory.appendingPathComponent("deliver-\(events)")
            try FileManager.default.createDirectory(at: run, withIntermediateDirectories: true)
            return try callgrind(["callgrind-deliver", run.path, "\(events)"], in: directory)
        }
        let deliver1 = try deliver(fewEvents), deliver2 = try deliver(manyEvents)
        return .success([
            "instructions_per_hot_cycle": (hot2 - hot1) / Double(manyCycles - fewCycles),
            "instructions_per_file_delivery": (deliver2 - deliver1) / Double(manyEvents - fewEvents),
        ])
    }

    /// Total instructions (Ir) of one child run under callgrind.
    static func callgrind(_ arguments: [String], in directory: URL) throws -> Double {
        let out = directory.appendingPathComponent("callgrind.\(UUID().uuidString).out").path
        // Debian 12's valgrind 3.19 cannot read the DWARF 5 this toolchain writes: run a copy without it.
        let stripped = directory.appendingPathComponent("bench-stripped").path
        if !FileManager.default.fileExists(atPath: stripped) {
            let strip = Process()
            strip.executableURL = URL(fileURLWithPath: "/usr/bin/objcopy")
            strip.arguments = ["--strip-debug", CommandLine.arguments[0], stripped]
            try strip.run()
            strip.waitUntilExit()
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/valgrind")
        process.arguments = ["--tool=callgrind", "--callgrind-out-file=\(out)", stripped] + arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw BenchError("callgrind \(arguments[0]) exited with \(process.terminationStatus)")
        }
        let text = try String(contentsOfFile: out, encoding: .utf8)
        guard
            let line = text.split(separator: "\n").first(where: { $0.hasPrefix("summary:") || $0.hasPrefix("totals:") }
            ),
            let value = line.split(separator: " ").last.flatMap({ Double($0) })
        else {
            throw BenchError("no summary in \(out)")
        }
        return value
    }
}
