import CurlHTTP
import Foundation
import PlivoCompliance
import PlivoSandbox
import Testing
import WatchCore
import WatchSinks
import WatchTesting

@Suite("history", .timeLimit(.minutes(1)))
struct HistoryTests {
    @Test(
        "history and audit report on a real daemon's output: by id or alias, text, CSV or JSON, and never silently from a damaged file"
    )
    func history() async throws {
        let authId = "MAHISTORY00000000000"
        let sandbox = try await SandboxServer.start(.init(authId: authId, authToken: "t", rateLimit: 0))
        defer { sandbox.stop() }
        let base = await sandbox.baseURL
        let transport = CurlTransportFactory.make()
        func post(_ path: String, _ json: String) async throws -> Data {
            try await transport.send(
                .init(method: .post, url: base + path, body: .data(Data(json.utf8), contentType: "application/json"))
            ).body
        }
        _ = try await post("/_sandbox/seed", #"{"count": 2, "statuses": {"submitted": 1}}"#)
        let client = PlivoClient(
            configuration: .init(authId: authId, authToken: "t", baseURL: base),
            transport: transport
        )
        let apps = try await client.applications.all().collect()
        let app = try #require(apps.first)
        let alias = try #require(app.alias)

        let fixture = try DaemonFixture(baseURL: base, authId: authId, token: "t")
        let daemon = try fixture.launch(["run"])
        defer { if daemon.isRunning { kill(daemon.processIdentifier, SIGKILL) } }
        #expect(try await fixture.waitForBaseline(account: authId))
        _ = try await post(
            "/_sandbox/applications/\(app.id)/review",
            #"{"status": "rejected", "rejection_reason": "blurry proof"}"#
        )
        func audited() throws -> [Event] {
            try fixture.auditEvents().events.filter { $0.data.application.complianceApplicationId == app.id }
        }
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
        #expect(
            sinks.allSatisfy {
                $0.count == 1 && $0[0]["sink"] as? String == "audit" && $0[0]["state"] as? String == "delivered"
            }
        )

        let (aliasCode, text, _) = try await runCLI(["history", alias, "--config", fixture.configPath])
        #expect(aliasCode == 0)
        #expect(text.contains("application \(app.id) (\(alias))"))
        #expect(text.contains("submitted → rejected: blurry proof"))
        #expect(text.contains("rejected → accepted"))
        #expect(written.allSatisfy { text.contains($0.id) })

        let (missingCode, _, missing) = try await runCLI(["history", "no-such-app", "--config", fixture.configPath])
        #expect(missingCode == 1)
        #expect(missing.contains("no application with id or alias 'no-such-app'"))

        // audit report over the same daemon's file: both decisions, verified against the recorded head.
        let window = ["--from", "2020-01-01", "--to", "2100-01-01"]
        let (reportCode, csv, reportErr) = try await runCLI(
            ["audit", "report", fixture.auditPath, "--format", "csv", "--config", fixture.configPath] + window
        )
        #expect(reportCode == 0, "\(reportErr)")
        let csvLines = csv.split(separator: "\n").map(String.init)
        #expect(
            csvLines.first
                == "application_id,alias,country_iso2,number_type,end_user_type,from,to,rejection_reason,detected_at,event_id,seq"
        )
        let ours = csvLines.filter { $0.hasPrefix(app.id + ",") }
        #expect(ours.count == 2)
        #expect(ours.first?.contains(",submitted,rejected,blurry proof,") == true)
        #expect(ours.last?.contains(",rejected,accepted,,") == true)
        #expect(written.allSatisfy { event in ours.contains { $0.contains(event.id) } })
        let (_, acceptedOnly, _) = try await runCLI(
            ["audit", "report", fixture.auditPath, "--status", "accepted", "--format", "json"] + window
        )
        let report = try #require(try JSONSerialization.jsonObject(with: Data(acceptedOnly.utf8)) as? [String: Any])
        #expect(report["verified"] as? Bool == true)
        let rows = try #require(report["rows"] as? [[String: Any]]).filter { $0["application_id"] as? String == app.id }
        #expect(rows.map { $0["to"] as? String } == ["accepted"])
        let (_, outside, _) = try await runCLI([
            "audit", "report", fixture.auditPath, "--from", "2020-01-01", "--to", "2020-02-01",
        ])
        #expect(outside.hasPrefix("0 decisions"))

        // The daemon sealed every line; the verification key from its state directory checks them all.
        let stateDirectory = URL(fileURLWithPath: fixture.statePath).deletingLastPathComponent().path
        let keyFile = AuditSeal.files(in: stateDirectory, sink: "audit").verification
        let (verifyCode, verified, verifyErr) = try await runCLI([
            "audit", "verify", fixture.auditPath, "--verification-key", keyFile,
        ])
        #expect(verifyCode == 0, "\(verifyErr)")
        #expect(verified.contains("seals verified on \(written.count) lines"), "\(verified)")
        let (initCode, _, initErr) = try await runCLI(["audit", "init", "--config", fixture.configPath])
        #expect(initCode == 1, "a sealing key exists: the chain keeps it")
        #expect(initErr.contains("already exists"))

        // A damaged file: refused, unless --unverified, which says so.
        var damaged = try String(contentsOfFile: fixture.auditPath, encoding: .utf8)
        damaged = damaged.replacingOccurrences(of: "blurry proof", with: "clear proof")
        try damaged.write(toFile: fixture.auditPath, atomically: true, encoding: .utf8)
        let (refusedCode, _, refusedErr) = try await runCLI(["audit", "report", fixture.auditPath] + window)
        #expect(refusedCode == 1)
        #expect(refusedErr.contains("refusing to report from files that do not verify"))
        let (anywayCode, anyway, _) = try await runCLI(["audit", "report", fixture.auditPath, "--unverified"] + window)
        #expect(anywayCode == 0)
        #expect(anyway.hasPrefix("UNVERIFIED: BROKEN:"))
        #expect(anyway.contains("files NOT verified"))
    }
}
