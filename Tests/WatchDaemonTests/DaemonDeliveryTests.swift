import Foundation
import PlivoSandbox
import Testing
import WatchTesting
import WatchCore

/// scripts/test-receiver.py: a real webhook receiver process, steered through files.
struct TestReceiver {
    let process: Process
    let directory: URL
    let port: Int

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("cw-receiver-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../scripts/test-receiver.py").standardized.path
        process.arguments = [script, directory.path]
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        ChildProcesses.killAtExit(process)
        var line = Data()
        while !line.contains(0x0A) {
            let chunk = out.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            line.append(chunk)
        }
        port =
            Int(
                String(decoding: line, as: UTF8.self).split(separator: " ").last?.trimmingCharacters(
                    in: .whitespacesAndNewlines
                ) ?? ""
            ) ?? 0
    }

    var url: String { "http://127.0.0.1:\(port)/hook" }

    /// How the receiver answers from now on.
    func answer(_ status: Int) throws {
        try String(status).write(to: directory.appendingPathComponent("answer"), atomically: true, encoding: .utf8)
    }

    /// Every request so far: the `webhook-id` and the status it got.
    var received: [(id: String, status: Int)] {
        let text = (try? String(contentsOf: directory.appendingPathComponent("received"), encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap { line in
            let parts = line.split(separator: " ")
            guard parts.count == 2, let status = Int(parts[1]) else { return nil }
            return (String(parts[0]), status)
        }
    }

    /// Ids delivered (answered 2xx), in arrival order.
    var delivered: [String] { received.filter { (200..<300).contains($0.status) }.map(\.id) }

    func stop() {
        kill(process.processIdentifier, SIGKILL)
        try? FileManager.default.removeItem(at: directory)
    }
}

/// A sandbox with applications, a real daemon with a webhook sink to a real receiver.
struct DeliveryRig {
    static let authId = "MADELIVERY0000000000"
    let sandbox: SandboxServer
    let receiver: TestReceiver
    let fixture: DaemonFixture
    let socket: FakeNotifySocket
    let daemon: Process
    let ids: [String]

    init(maxAttempts: Int = 2) async throws {
        sandbox = try await SandboxServer.start(.init(authId: Self.authId, authToken: "t", rateLimit: 0))
        let seeded = try await CurlTransportFactory.make().send(
            .init(
                method: .post,
                url: await sandbox.baseURL + "/_sandbox/seed",
                body: .data(Data(#"{"count": 2, "statuses": {"submitted": 1}}"#.utf8), contentType: "application/json")
            )
        )
        ids =
            ((try JSONSerialization.jsonObject(with: seeded.body) as? [String: Any])?["application_ids"] as? [String])
            ?? []
        receiver = try TestReceiver()
        fixture = try DaemonFixture(
            baseURL: await sandbox.baseURL,
            authId: Self.authId,
            token: "t",
            extra: """
                [[sinks]]
                name = "hook"
                type = "webhook"
                url = "\(receiver.url)"
                """
        )
        let config = try String(contentsOfFile: fixture.configPath, encoding: .utf8)
            .replacingOccurrences(of: "[delivery]", with: "[delivery]\nmax_attempts = \(maxAttempts)")
        try config.write(toFile: fixture.configPath, atomically: true, encoding: .utf8)
        socket = try FakeNotifySocket(abstract: true)
        daemon = try fixture.launchNotifying(socket)
        _ = try await fixture.waitForBaseline(account: Self.authId)
    }

    func review(_ id: String, _ status: String) async throws {
        let body =
            status == "rejected" ? #"{"status":"rejected","rejection_reason":"blurry"}"# : #"{"status":"\#(status)"}"#
        _ = try await CurlTransportFactory.make().send(
            .init(
                method: .post,
                url: await sandbox.baseURL + "/_sandbox/applications/\(id)/review",
                body: .data(Data(body.utf8), contentType: "application/json")
            )
        )
    }

    /// Event ids recorded for `application`, oldest first.
    func events(of application: String) throws -> [String] {
        try StateStore.openReadOnly(path: fixture.statePath).events()
            .filter { $0.data.application.complianceApplicationId == application }.map(\.id)
    }

    func cli(_ arguments: [String]) async throws -> (Int32, String, String) {
        try await runCLI(arguments + ["--config", fixture.configPath])
    }

    func stop() {
        kill(daemon.processIdentifier, SIGKILL)
        receiver.stop()
        sandbox.stop()
    }
}

@Suite("Delivery with a real daemon and receiver", .timeLimit(.minutes(2)))
struct DaemonDeliveryTests {
    @Test("a dead letter holds back its application's later events; redeliver sends both, in order, at once")
    func deadLetterOrderAndRedelivery() async throws {
        let rig = try await DeliveryRig()
        defer { rig.stop() }
        let app = rig.ids[0]
        try rig.receiver.answer(500)
        try await rig.review(app, "accepted")
        #expect(
            try await eventually {
                try await rig.cli(["deliveries", "list", "--state", "dead"]).1.contains("hook")
            }
        )
        let first = try rig.events(of: app)
        #expect(first.count == 1)

        try await rig.review(app, "rejected")
        #expect(try await eventually { try rig.events(of: app).count == 2 })
        let events = try rig.events(of: app)
        // It waits behind the dead letter: not sent, shown as blocked.
        try await Task.sleep(for: .milliseconds(500))
        #expect(!rig.receiver.received.contains { $0.id == events[1] }, "never sent past the dead letter")
        let (_, status, _) = try await rig.cli(["status"])
        #expect(status.contains("1 waiting behind dead \(events[0])"), "\(status)")
        let (_, list, _) = try await rig.cli(["deliveries", "list", "--state", "pending"])
        #expect(list.contains("blocked behind dead \(events[0])"))

        // The same facts for scripts, in the documented JSON shapes.
        let statusJSON = try #require(
            try JSONSerialization.jsonObject(with: Data(try await rig.cli(["status", "--json"]).1.utf8))
                as? [String: Any]
        )
        let daemon = try #require(statusJSON["daemon"] as? [String: Any])
        #expect(daemon["state"] as? String == "running")
        #expect(daemon["pid"] as? Int == Int(rig.daemon.processIdentifier))
        #expect((statusJSON["applications"] as? [String: Any])?["total"] as? Int == 2)
        let hook = try #require((statusJSON["sinks"] as? [[String: Any]])?.first { $0["name"] as? String == "hook" })
        #expect(hook["health"] as? String == "delivering")
        let blockedJSON = try #require((hook["blocked"] as? [[String: Any]])?.first)
        #expect(blockedJSON["application_id"] as? String == app)
        #expect(blockedJSON["blocking_event_id"] as? String == events[0])
        #expect(blockedJSON["waiting"] as? Int == 1)
        #expect(statusJSON["unconfirmed"] as? [Any] != nil)
        let pendingJSON = try #require(
            try JSONSerialization.jsonObject(
                with: Data(
                    try await rig.cli(["deliveries", "list", "--sink", "hook", "--state", "pending", "--json"]).1.utf8
                )
            ) as? [[String: Any]]
        )
        #expect(pendingJSON.count == 1)
        #expect(pendingJSON.first?["event_id"] as? String == events[1])
        #expect(pendingJSON.first?["blocked_by"] as? String == events[0])
        #expect(pendingJSON.first?["from"] as? String == "accepted")
        #expect(pendingJSON.first?["to"] as? String == "rejected")
        #expect(pendingJSON.first?["delivered_at"] is NSNull, "absent values are null, not missing")
        let deadJSON = try #require(
            try JSONSerialization.jsonObject(
                with: Data(
                    try await rig.cli(["deliveries", "list", "--sink", "hook", "--state", "dead", "--json"]).1.utf8
                )
            ) as? [[String: Any]]
        )
        #expect(deadJSON.first?["event_id"] as? String == events[0])
        #expect((deadJSON.first?["last_error"] as? String)?.hasPrefix("HTTP 500") == true)
        #expect(deadJSON.first?["attempts"] as? Int == 2)

        // The receiver is back; one redeliver, and the running daemon sends both within seconds.
        try rig.receiver.answer(204)
        let (code, out, _) = try await rig.cli(["deliveries", "redeliver", "--sink", "hook", "--dead"])
        #expect(code == 0)
        #expect(out == "queued 1 deliveries\n")
        #expect(try await eventually(within: 10) { rig.receiver.delivered.count == 2 })
        #expect(rig.receiver.delivered == events, "in order, under the ids recorded")
    }

    @Test("deliveries skip gives up on one event and the later ones flow")
    func skip() async throws {
        let rig = try await DeliveryRig()
        defer { rig.stop() }
        let app = rig.ids[1]
        try rig.receiver.answer(400)  // final: dead at once
        try await rig.review(app, "rejected")
        #expect(
            try await eventually {
                try await rig.cli(["deliveries", "list", "--state", "dead"]).1.contains("hook")
            }
        )
        try rig.receiver.answer(204)
        try await rig.review(app, "submitted")
        #expect(try await eventually { try rig.events(of: app).count == 2 })
        let events = try rig.events(of: app)
        let (code, out, _) = try await rig.cli(["deliveries", "skip", "--event", events[0], "--sink", "hook"])
        #expect(code == 0)
        #expect(out == "skipped \(events[0]) for hook\n")
        #expect(try await eventually(within: 10) { rig.receiver.delivered == [events[1]] })
        let (_, skipped, _) = try await rig.cli(["deliveries", "list", "--state", "skipped"])
        #expect(skipped.contains(events[0]))
        #expect(skipped.contains("skipped by operator at "))
        let (refused, _, err) = try await rig.cli(["deliveries", "skip", "--event", events[0], "--sink", "audit"])
        #expect(refused == 64, "the audit file never skips")
        #expect(err.contains("audit file"))
    }

    @Test("410 disables the sink visibly, holds new events with the reason, and a reload sends them")
    func disabledSinkIsVisible() async throws {
        let rig = try await DeliveryRig(maxAttempts: 100)
        defer { rig.stop() }
        try rig.receiver.answer(410)
        try await rig.review(rig.ids[0], "accepted")
        #expect(try await eventually { rig.receiver.received.contains { $0.status == 410 } })
        #expect(
            try await eventually {
                try await rig.cli(["status"]).1.contains("disabled (receiver answered 410 Gone")
            }
        )

        try await rig.review(rig.ids[1], "rejected")
        #expect(try await eventually { try rig.events(of: rig.ids[1]).count == 1 })
        let (_, held, _) = try await rig.cli(["deliveries", "list", "--sink", "hook", "--state", "pending"])
        #expect(held.split(separator: "\n").count == 2)
        #expect(
            held.split(separator: "\n").allSatisfy { $0.contains("held: sink disabled (receiver answered 410 Gone") }
        )
        #expect(
            try await eventually {
                rig.socket.all.map(\.text).contains { $0.contains("STATUS=") && $0.contains("sink hook disabled") }
            }
        )
        #expect(rig.receiver.received.count == 1, "nothing more was sent while disabled")

        try rig.receiver.answer(204)
        kill(rig.daemon.processIdentifier, SIGHUP)
        #expect(try await eventually(within: 10) { rig.receiver.delivered.count == 2 })
        #expect(Set(rig.receiver.delivered) == Set(try rig.events(of: rig.ids[0]) + rig.events(of: rig.ids[1])))
        #expect(try await eventually { try await rig.cli(["status"]).1.contains("hook             delivering") })
    }

    @Test("SIGHUP reopens the audit file even when the new configuration is refused; the chain continues")
    func reopenOnRefusedReload() async throws {
        let rig = try await DeliveryRig()
        defer { rig.stop() }
        let path = rig.fixture.auditPath
        try await rig.review(rig.ids[0], "accepted")
        #expect(try await eventually { ((try? rig.fixture.auditEvents())?.lines ?? 0) == 1 })

        // logrotate moves the file, and the operator's configuration has a mistake in it.
        try FileManager.default.moveItem(atPath: path, toPath: path + ".1")
        let good = try String(contentsOfFile: rig.fixture.configPath, encoding: .utf8)
        try (good + "\nbogus_key = 1\n").write(toFile: rig.fixture.configPath, atomically: true, encoding: .utf8)
        let readyBefore = rig.socket.count("READY=1")
        kill(rig.daemon.processIdentifier, SIGHUP)
        #expect(await rig.socket.wait { _ in rig.socket.count("READY=1") > readyBefore })
        #expect(rig.socket.all.last { $0.text.contains("READY=1") }?.text.contains("reload refused") == true)

        try await rig.review(rig.ids[1], "rejected")
        #expect(
            try await eventually { FileManager.default.fileExists(atPath: path) },
            "the next line went to a new file"
        )
        #expect(try String(contentsOfFile: path + ".1", encoding: .utf8).split(separator: "\n").count == 1)
        try good.write(toFile: rig.fixture.configPath, atomically: true, encoding: .utf8)
        let (code, out, _) = try await runCLI([
            "audit", "verify", path + ".1", path, "--config", rig.fixture.configPath,
        ])
        #expect(code == 0, "\(out)")
        #expect(out.hasPrefix("OK: 2 lines"))
    }

    @Test("status works without a usable configuration file, and says whether the daemon runs")
    func statusWithoutConfiguration() async throws {
        let rig = try await DeliveryRig()
        defer { rig.stop() }
        try "this is [not toml".write(toFile: rig.fixture.configPath, atomically: true, encoding: .utf8)
        let (broken, _, _) = try await runCLI(["status", "--config", rig.fixture.configPath])
        #expect(broken == 78)
        let (code, out, _) = try await runCLI(["status", "--state", rig.fixture.statePath])
        #expect(code == 0)
        #expect(out.contains("daemon: running, pid \(rig.daemon.processIdentifier) since "))
        #expect(out.contains("applications: 2"))
        kill(rig.daemon.processIdentifier, SIGKILL)
        rig.daemon.waitUntilExit()
        #expect(try await runCLI(["status", "--state", rig.fixture.statePath]).1.contains("daemon: not running"))
    }
}
