import CurlHTTP
import Foundation
import PlivoCompliance
import PlivoSandbox
import Testing
import WatchCore
import WatchTesting

@Suite("history", .timeLimit(.minutes(1)))
struct HistoryTests {
    @Test("history lists an application's transitions from a real daemon's state, by id or alias, as text or JSON")
    func history() async throws {
        let authId = "MAHISTORY00000000000"
        let sandbox = try await SandboxServer.start(.init(authId: authId, authToken: "t", rateLimit: 0))
        defer { sandbox.stop() }
        let base = await sandbox.baseURL
        let transport = CurlTransportFactory.make()
        func post(_ path: String, _ json: String) async throws -> Data {
            try await transport.send(.init(method: .post, url: base + path, body: .data(Data(json.utf8), contentType: "application/json"))).body
        }
        _ = try await post("/_sandbox/seed", #"{"count": 2, "statuses": {"submitted": 1}}"#)
        let client = PlivoClient(configuration: .init(authId: authId, authToken: "t", baseURL: base), transport: transport)
        let apps = try await client.applications.all().collect()
        let app = try #require(apps.first)
        let alias = try #require(app.alias)

        let fixture = try DaemonFixture(baseURL: base, authId: authId, token: "t")
        let daemon = try fixture.launch(["run"])
        defer { if daemon.isRunning { kill(daemon.processIdentifier, SIGKILL) } }
        #expect(try await fixture.waitForBaseline(account: authId))
        _ = try await post("/_sandbox/applications/\(app.id)/review", #"{"status": "rejected", "rejection_reason": "blurry proof"}"#)
        func audited() throws -> [Event] { try fixture.auditEvents().events.filter { $0.data.application.complianceApplicationId == app.id } }
        for _ in 0..<200 where try audited().count < 1 { try await Task.sleep(for: .milliseconds(25)) }
        _ = try await post("/_sandbox/applications/\(app.id)/review", #"{"status": "accepted"}"#)
        for _ in 0..<200 where try audited().count < 2 { try await Task.sleep(for: .milliseconds(25)) }
        kill(daemon.processIdentifier, SIGTERM)
        daemon.waitUntilExit()
        let written = try audited()
        #expect(written.count == 2)

        let (code, out, err) = try await runCLI(["history", app.id, "--json", "--config", fixture.configPath])
        #expect(code == 0, "\(err)")
        let entries = try #require(try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [[String: Any]])
        #expect(entries.map { $0["event_id"] as? String } == written.map(\.id), "the same events, oldest first")
        #expect(entries.map { $0["from"] as? String } == ["submitted", "rejected"])
        #expect(entries.map { $0["to"] as? String } == ["rejected", "accepted"])
        #expect(entries.first?["rejection_reason"] as? String == "blurry proof")
        #expect(entries.last?["rejection_reason"] is NSNull, "absent values are null")
        let sinks = entries.compactMap { $0["deliveries"] as? [[String: Any]] }
        #expect(sinks.allSatisfy { $0.count == 1 && $0[0]["sink"] as? String == "audit" && $0[0]["state"] as? String == "delivered" })

        let (aliasCode, text, _) = try await runCLI(["history", alias, "--config", fixture.configPath])
        #expect(aliasCode == 0)
        #expect(text.contains("application \(app.id) (\(alias))"))
        #expect(text.contains("submitted → rejected: blurry proof"))
        #expect(text.contains("rejected → accepted"))
        #expect(written.allSatisfy { text.contains($0.id) })

        let (missingCode, _, missing) = try await runCLI(["history", "no-such-app", "--config", fixture.configPath])
        #expect(missingCode == 1)
        #expect(missing.contains("no application with id or alias 'no-such-app'"))
    }
}
