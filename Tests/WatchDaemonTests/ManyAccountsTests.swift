import Foundation
import PlivoSandbox
import Testing
import WatchCore
import WatchSinks
import WatchTesting

@Suite("Many accounts in one daemon", .timeLimit(.minutes(2)))
struct ManyAccountsTests {
    static let ids = ["MAACCOUNTA0000000000", "MAACCOUNTB0000000000", "MAACCOUNTC0000000000"]

    @Test("three accounts, one with a wrong token: the other two keep their events flowing, filtered by account")
    func oneBadTokenDoesNotStopTheOthers() async throws {
        let sandbox = try await SandboxServer.start(
            .init(
                authId: Self.ids[0],
                authToken: "token-a",
                rateLimit: 0,
                otherAccounts: [Self.ids[1]: "token-b", Self.ids[2]: "token-c"]
            )
        )
        defer { sandbox.stop() }
        let base = await sandbox.baseURL
        var applications: [String: [String]] = [:]
        for id in Self.ids {
            let seeded = try await CurlTransportFactory.make().send(
                .init(
                    method: .post,
                    url: base + "/_sandbox/seed",
                    body: .data(
                        Data(#"{"account": "\#(id)", "count": 2, "statuses": {"submitted": 1}}"#.utf8),
                        contentType: "application/json"
                    )
                )
            )
            applications[id] =
                ((try JSONSerialization.jsonObject(with: seeded.body) as? [String: Any])?["application_ids"]
                    as? [String]) ?? []
            #expect(applications[id]?.count == 2)
        }
        let fixture = try DaemonFixture(
            baseURL: base,
            accounts: [
                ("alpha", Self.ids[0], "token-a"), ("bravo", Self.ids[1], "wrong"), ("charlie", Self.ids[2], "token-c"),
            ],
            extra: """
                [[sinks]]
                name = "charlie-only"
                type = "file"
                path = "audit/charlie.jsonl"
                [sinks.filter]
                accounts = ["charlie"]
                """
        )
        let socket = try FakeNotifySocket(abstract: true)
        let daemon = try fixture.launchNotifying(socket)
        defer { kill(daemon.processIdentifier, SIGKILL) }
        #expect(try await fixture.waitForBaseline(account: Self.ids[0]))
        #expect(try await fixture.waitForBaseline(account: Self.ids[2]))

        for id in [Self.ids[0], Self.ids[2]] {
            for application in applications[id] ?? [] {
                _ = try await CurlTransportFactory.make().send(
                    .init(
                        method: .post,
                        url: base + "/_sandbox/applications/\(application)/review",
                        body: .data(Data(#"{"status":"accepted"}"#.utf8), contentType: "application/json")
                    )
                )
            }
        }
        let expected = Set((applications[Self.ids[0]] ?? []) + (applications[Self.ids[2]] ?? []))
        let deadline = Date().addingTimeInterval(20)
        var events: [Event] = []
        while Date() < deadline {
            events = try fixture.auditEvents().events
            if Set(events.map(\.data.application.complianceApplicationId)) == expected { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(Set(events.map(\.data.application.complianceApplicationId)) == expected)
        #expect(events.allSatisfy { $0.type == .statusChanged && $0.toStatus == "accepted" })
        for event in events {
            let owner = Self.ids.first {
                applications[$0]?.contains(event.data.application.complianceApplicationId) == true
            }
            #expect(event.account == owner, "each event names the account its application belongs to")
        }

        // The filtered sink got charlie's events and nothing else.
        let charlieText = try String(
            contentsOfFile: fixture.directory.appendingPathComponent("audit/charlie.jsonl").path,
            encoding: .utf8
        )
        let charlie = charlieText.split(separator: "\n").compactMap { AuditChain.decode(line: Data($0.utf8))?.1 }
        #expect(Set(charlie.map(\.data.application.complianceApplicationId)) == Set(applications[Self.ids[2]] ?? []))
        #expect(charlie.allSatisfy { $0.account == Self.ids[2] })

        // bravo is reported as failing, by name, while the others poll fine.
        let store = try StateStore.openReadOnly(path: fixture.statePath)
        let bravo = try store.pollState(account: Self.ids[1])
        #expect(bravo.baselineDone == false)
        #expect(bravo.lastPollOK == false)
        #expect(bravo.lastError?.contains("401") == true, "\(bravo.lastError ?? "")")
        #expect(try store.pollState(account: Self.ids[0]).lastPollOK == true)
        #expect(
            await socket.wait { lines in
                lines.contains {
                    $0.hasPrefix("STATUS=") && $0.contains("in 3 accounts") && $0.contains("bravo: ")
                        && $0.contains("alpha: last poll")
                }
            }
        )
        let (code, status, _) = try await runCLI(["status", "--config", fixture.configPath])
        #expect(code == 0)
        #expect(status.contains("bravo"), "\(status)")
        #expect(status.contains(Self.ids[1]))
        #expect(!status.contains("wrong"), "never a token")
    }
}
