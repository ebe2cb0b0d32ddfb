import Foundation
import PlivoCompliance
import PlivoSandbox
import Testing
import WatchTesting
import WatchCore

@Suite("Crash safety with a real daemon process", .timeLimit(.minutes(3)))
struct CrashTests {
    @Test("SIGKILL at random moments, 20 times: every transition reaches the file, none under two ids")
    func killTwenty() async throws {
        let authId = "MACRASH0000000000000"
        let sandbox = try await SandboxServer.start(
            .init(
                authId: authId,
                authToken: "crash-token",
                rateLimit: 0,
                reviewAfter: .milliseconds(150),
                acceptRatio: 0.5
            )
        )
        defer { sandbox.stop() }
        let base = await sandbox.baseURL
        await sandbox.seed(count: 60)
        let client = PlivoClient(
            configuration: .init(authId: authId, authToken: "crash-token", baseURL: base),
            transport: CurlTransportFactory.make()
        )
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

        for round in 0..<20 {
            let process = try fixture.launch(["run"])
            // The first daemon lives until its silent baseline is committed, so the kills that
            // follow land while transitions are detected and delivered, however loaded the machine.
            if round == 0 { #expect(try await fixture.waitForBaseline(account: authId)) }
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
                #expect(
                    later.fromStatus == earlier.toStatus,
                    "\(app): \(earlier.fromStatus ?? "-")→\(earlier.toStatus) then \(later.fromStatus ?? "-")→\(later.toStatus)"
                )
            }
        }
        // The last event of each application matches Plivo's (the sandbox's) final state.
        let finalStates = Dictionary(
            uniqueKeysWithValues: try await client.applications.all().collect().map { ($0.id, $0.status) }
        )
        for (app, appEvents) in byApp {
            #expect(appEvents.last!.toStatus == finalStates[app], "\(app)")
        }
        // The audit file's hash chain is intact and ends where the database says it does.
        let verify = Process()
        verify.executableURL = TestBinaries.complianceWatch
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
