import Foundation
import PlivoCompliance
import PlivoSandbox
import Testing
import WatchCore

/// The directory holding the built products (`.build/<triple>/debug`).
let productDirectory: URL = {
    var url = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
    while url.path != "/", !FileManager.default.fileExists(atPath: url.appendingPathComponent("compliance-watch").path) {
        url.deleteLastPathComponent()
    }
    return url
}()

/// A scratch directory with a config pointing at a sandbox.
struct DaemonFixture {
    let directory: URL
    var configPath: String { directory.appendingPathComponent("cw.toml").path }
    var auditPath: String { directory.appendingPathComponent("audit/events.jsonl").path }
    var statePath: String { directory.appendingPathComponent("state/state.db").path }

    init(baseURL: String, authId: String, token: String, extra: String = "") throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("cw-daemon-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try token.write(to: directory.appendingPathComponent("token"), atomically: true, encoding: .utf8)
        try """
            [plivo]
            auth_id = "\(authId)"
            auth_token_file = "token"
            base_url = "\(baseURL)"
            max_requests_per_second = 500
            backoff_max = "200ms"
            [poll]
            interval = "100ms"
            settled_interval = "1s"
            [state]
            path = "state/state.db"
            [delivery]
            backoff_base = "10ms"
            backoff_max = "100ms"
            [log]
            level = "warning"
            [[sinks]]
            name = "audit"
            type = "file"
            path = "audit/events.jsonl"
            \(extra)
            """.write(toFile: configPath, atomically: true, encoding: .utf8)
    }

    func launch(_ arguments: [String]) throws -> Process {
        let process = Process()
        process.executableURL = productDirectory.appendingPathComponent("compliance-watch")
        process.arguments = arguments + ["--config", configPath]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        return process
    }

    /// Turns on `[poll] announce_existing`, so the first sync announces what it finds.
    func announceExisting() throws {
        try (try String(contentsOfFile: configPath, encoding: .utf8))
            .replacingOccurrences(of: "[poll]", with: "[poll]\nannounce_existing = true")
            .write(toFile: configPath, atomically: true, encoding: .utf8)
    }

    /// Starts `run` with `NOTIFY_SOCKET` pointing at `socket`.
    func launchNotifying(_ socket: FakeNotifySocket) throws -> Process {
        let process = Process()
        process.executableURL = productDirectory.appendingPathComponent("compliance-watch")
        process.arguments = ["run", "--config", configPath]
        process.environment = ProcessInfo.processInfo.environment.merging(["NOTIFY_SOCKET": socket.environmentValue]) { $1 }
        process.standardError = FileHandle.nullDevice
        try process.run()
        return process
    }

    /// Waits (at most about 5 s) until the daemon has committed its silent baseline for `account`.
    /// - Returns: whether it did.
    @discardableResult
    func waitForBaseline(account: String) async throws -> Bool {
        for _ in 0..<250 {
            if let store = try? StateStore.openReadOnly(path: statePath),
               (try? store.pollState(account: account).baselineDone) == true { return true }
            try await Task.sleep(for: .milliseconds(20))
        }
        return false
    }

    /// Distinct events in the audit file, in file order, plus how many lines there were.
    func auditEvents() throws -> (events: [Event], lines: Int) {
        let text = (try? String(contentsOfFile: auditPath, encoding: .utf8)) ?? ""
        let lines = text.split(separator: "\n")
        var seen: [String: Event] = [:]
        var ordered: [Event] = []
        for line in lines {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            let event = try Event.decode(try JSONSerialization.data(withJSONObject: try #require(object["event"])))
            if let earlier = seen[event.id] {
                #expect(earlier == event, "a redelivered event is byte-for-byte the same")
                continue
            }
            seen[event.id] = event
            ordered.append(event)
        }
        return (ordered, lines.count)
    }
}

@Suite("Crash safety with a real daemon process", .timeLimit(.minutes(3)))
struct CrashTests {
    @Test("SIGKILL at random moments, 20 times: every transition reaches the file, none under two ids")
    func killTwenty() async throws {
        let authId = "MACRASH0000000000000"
        let sandbox = try await SandboxServer.start(.init(
            authId: authId, authToken: "crash-token", rateLimit: 0, reviewAfter: .milliseconds(150), acceptRatio: 0.5))
        defer { sandbox.stop() }
        let base = await sandbox.baseURL
        await sandbox.seed(count: 60)
        let client = PlivoClient(configuration: .init(authId: authId, authToken: "crash-token", baseURL: base), transport: CurlTransportFactory.make())
        let fixture = try DaemonFixture(baseURL: base, authId: authId, token: "crash-token")

        // Applications keep changing while the daemon is killed and restarted: drafts and
        // rejected applications are (re)submitted, and the reviewer decides them.
        let churn = Task {
            var rounds = 0
            while !Task.isCancelled, rounds < 400 {
                rounds += 1
                if let apps = try? await client.applications.all().collect() {
                    for app in apps.shuffled().prefix(3) where app.status == .draft || app.status == .rejected {
                        _ = try? await client.applications.submit(app.id)
                    }
                }
                try? await Task.sleep(for: .milliseconds(40))
            }
        }

        for _ in 0..<20 {
            let process = try fixture.launch(["run"])
            try await Task.sleep(for: .milliseconds(Int.random(in: 80...600)))
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            #expect(process.terminationReason == .uncaughtSignal, "killed while running, not exited on its own")
        }
        churn.cancel()
        _ = await churn.result
        // Let the reviewer finish what was submitted, then catch up once.
        try await Task.sleep(for: .milliseconds(400))
        let beforeFinal = try fixture.auditEvents()
        #expect(!beforeFinal.events.isEmpty, "the daemons that were killed had delivered events")
        let final = try fixture.launch(["once"])
        final.waitUntilExit()
        #expect(final.terminationStatus == 0)

        let (events, lines) = try fixture.auditEvents()
        #expect(events.count >= beforeFinal.events.count)
        // Every line, redeliveries included, is a link of the chain the database recorded.
        #expect(try StateStore.openReadOnly(path: fixture.statePath).auditHead(sink: "audit")?.seq == lines)
        print("crash test: \(events.count) distinct events, \(lines) lines")

        // The database and the file agree: every recorded event was delivered to the file.
        let store = try StateStore.openReadOnly(path: fixture.statePath)
        #expect(Set(try store.events().map(\.id)) == Set(events.map(\.id)))
        #expect(try store.pendingCount() == 0)

        // Per application, events chain: each one starts where the previous ended. A transition
        // announced twice under two ids would break the chain.
        let byApp = Dictionary(grouping: events, by: { $0.data.application.complianceApplicationId })
        for (app, appEvents) in byApp {
            for (earlier, later) in zip(appEvents, appEvents.dropFirst()) {
                #expect(later.fromStatus == earlier.toStatus, "\(app): \(earlier.fromStatus ?? "-")→\(earlier.toStatus) then \(later.fromStatus ?? "-")→\(later.toStatus)")
            }
        }
        // The last event of each application matches Plivo's (the sandbox's) final state.
        let finalStates = Dictionary(uniqueKeysWithValues: try await client.applications.all().collect().map { ($0.id, $0.status) })
        for (app, appEvents) in byApp {
            #expect(appEvents.last!.toStatus == finalStates[app], "\(app)")
        }
        // The audit file's hash chain is intact and ends where the database says it does.
        let verify = Process()
        verify.executableURL = productDirectory.appendingPathComponent("compliance-watch")
        verify.arguments = ["audit", "verify", fixture.auditPath, "--config", fixture.configPath]
        let output = Pipe()
        verify.standardOutput = output
        try verify.run()
        verify.waitUntilExit()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(verify.terminationStatus == 0, "\(text)")
        #expect(text.hasPrefix("OK: \(lines) lines"))
        try? FileManager.default.removeItem(at: fixture.directory)
    }
}

import CurlHTTP

enum CurlTransportFactory {
    static func make() -> CurlTransport { CurlTransport(configuration: .init(timeout: .seconds(5))) }
}
