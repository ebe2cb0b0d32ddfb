import Foundation
import PlivoSandbox
import Testing
import WatchTesting
import WatchCore
import WatchSystemd

@Suite("Command line", .timeLimit(.minutes(1)))
struct CommandLineTests {
    @Test("once, status, deliveries list and redeliver against the sandbox")
    func operatorCommands() async throws {
        let authId = "MACLI000000000000000"
        let sandbox = try await SandboxServer.start(.init(authId: authId, authToken: "cli-token", rateLimit: 0))
        defer { sandbox.stop() }
        await sandbox.seed(count: 25)
        let mailPath = FileManager.default.temporaryDirectory.appendingPathComponent("cw-mail-\(UUID().uuidString).txt")
            .path
        let fixture = try DaemonFixture(
            baseURL: await sandbox.baseURL,
            authId: authId,
            token: "cli-token",
            extra: """
                [sinks.filter]
                types = ["compliance_application.created"]
                [[sinks]]
                name = "mail"
                type = "mail"
                command = ["/usr/bin/tee", "-a", "\(mailPath)"]
                from = "watch@example.com"
                to = ["ops@example.com"]
                [sinks.filter]
                types = ["compliance_application.created"]
                """
        )
        try fixture.announceExisting()

        let (onceStatus, onceOut, onceErr) = try await runCLI(["once", "--config", fixture.configPath])
        #expect(onceStatus == 0, "\(onceErr)")
        #expect(onceOut.contains("polled 25 applications"))
        #expect(onceOut.contains("25 events"))

        let (statusCode, statusOut, _) = try await runCLI(["status", "--config", fixture.configPath])
        #expect(statusCode == 0)
        #expect(statusOut.contains("applications: 25"))
        #expect(statusOut.contains("audit            delivered  25"))
        #expect(statusOut.contains("mail             delivered  25"))
        #expect(statusOut.contains("daemon: not running"))

        let (_, listOut, _) = try await runCLI([
            "deliveries", "list", "--config", fixture.configPath, "--sink", "mail", "--state", "delivered", "--limit",
            "3",
        ])
        let lines = listOut.split(separator: "\n")
        #expect(lines.count == 3)
        let eventId = try #require(lines.first?.split(separator: " ").first.map(String.init))
        #expect(eventId.hasPrefix("evt_"))

        // Every sink but the audit file gets it again; the file already holds it.
        let (redeliverCode, redeliverOut, _) = try await runCLI([
            "deliveries", "redeliver", "--config", fixture.configPath, "--event", eventId,
        ])
        #expect(redeliverCode == 0)
        #expect(redeliverOut == "audit: already in the audit file; not appended again\nqueued 1 deliveries\n")
        let (_, pendingOut, _) = try await runCLI([
            "deliveries", "list", "--config", fixture.configPath, "--state", "pending",
        ])
        #expect(pendingOut.hasPrefix("\(eventId)  mail  pending"))
        // The next run delivers it again, under the same id.
        #expect(try await runCLI(["once", "--config", fixture.configPath]).0 == 0)
        let mail = try String(contentsOfFile: mailPath, encoding: .utf8)
        #expect(mail.components(separatedBy: "Event: \(eventId)").count - 1 == 2)
        let audit = try String(contentsOfFile: fixture.auditPath, encoding: .utf8)
        #expect(audit.components(separatedBy: eventId).count - 1 == 1)

        let (noSinkCode, _, noSinkErr) = try await runCLI([
            "deliveries", "redeliver", "--config", fixture.configPath, "--sink", "nosuch", "--dead",
        ])
        #expect(noSinkCode == 64)
        #expect(noSinkErr.contains("no sink named nosuch in \(fixture.configPath) (sinks: audit, mail)"))

        let (badCode, _, badErr) = try await runCLI(["deliveries", "redeliver", "--config", fixture.configPath])
        #expect(badCode != 0)
        #expect(badErr.contains("give --event ID, or --sink NAME --dead"))
    }

    @Test("check-config prints a redacted summary, or exits 78 with every problem")
    func checkConfig() async throws {
        let fixture = try DaemonFixture(
            baseURL: "http://127.0.0.1:9",
            authId: "MACHECK0000000000000",
            token: "check-s3cr3t"
        )
        let (code, out, _) = try await runCLI(["check-config", "--config", fixture.configPath])
        #expect(code == 0)
        #expect(out.contains("configuration \(fixture.configPath) is valid"))
        #expect(out.contains("auth token = <redacted>"))
        #expect(!out.contains("check-s3cr3t"))
        #expect(out.contains("[poll] interval = 100ms"))
        try "[plivo]\nauth_id = \"MA1\"\nconcurrency = 0\n[pol]\n".write(
            toFile: fixture.configPath,
            atomically: true,
            encoding: .utf8
        )
        let (badCode, _, err) = try await runCLI(
            ["check-config", "--config", fixture.configPath],
            environment: ["PLIVO_AUTH_TOKEN": "x"]
        )
        #expect(badCode == 78)
        #expect(err.contains("\(fixture.configPath):3: plivo.concurrency: must be between 1 and 32, got 0"))
        #expect(err.contains("\(fixture.configPath):4: pol: unknown key"))
        // One pass names the problems of the sinks too.
        try """
        [plivo]
        auth_id = "MA1"
        concurrency = 0
        [[sinks]]
        name = "hook"
        type = "webhook"
        """.write(toFile: fixture.configPath, atomically: true, encoding: .utf8)
        let (_, _, both) = try await runCLI(
            ["check-config", "--config", fixture.configPath],
            environment: ["PLIVO_AUTH_TOKEN": "x"]
        )
        #expect(both.contains("plivo.concurrency: must be between 1 and 32, got 0"))
        #expect(both.contains("sinks[1].url: missing: set url, url_file or url_credential"))
    }

    @Test("check-config and run refuse a token file others can read, with exit 78, before contacting anything")
    func looseTokenFile() async throws {
        let fixture = try DaemonFixture(
            baseURL: "http://127.0.0.1:9",
            authId: "MACHECK0000000000000",
            token: "loose-s3cr3t"
        )
        let token = fixture.directory.appendingPathComponent("token").path
        #expect(try await runCLI(["check-config", "--config", fixture.configPath]).0 == 0)
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: token)
        for command in [["check-config"], ["run"]] {
            let (code, out, err) = try await runCLI(command + ["--config", fixture.configPath, "--log-format", "text"])
            #expect(code == 78, "\(command): \(err)")
            #expect(err.contains("\(token) is accessible by group or others (mode 0644)"), "\(command): \(err)")
            #expect(!(out + err).contains("loose-s3cr3t"))
        }
    }

    @Test("check-config shows webhook URLs as scheme://host/… and warns when others can read one with a path")
    func exposedWebhookURL() async throws {
        let fixture = try DaemonFixture(
            baseURL: "http://127.0.0.1:9",
            authId: "MAEXPOSED00000000000",
            token: "t",
            extra: """
                [[sinks]]
                name = "slack"
                type = "webhook"
                format = "slack"
                url = "https://hooks.slack.com/services/T0/B0/XXXXSECRET"
                [[sinks]]
                name = "raw"
                type = "webhook"
                url = "https://receiver.example.com/"
                """
        )
        chmod(fixture.configPath, 0o644)
        let (code, out, err) = try await runCLI(["check-config", "--config", fixture.configPath])
        #expect(code == 0, "\(err)")
        #expect(out.contains("[sink slack] type = webhook; url = https://hooks.slack.com/…"))
        #expect(out.contains("is readable by other users (mode 644) and holds the webhook URL of sink slack;"))
        #expect(out.contains("warning: sink raw has no secret: its requests are unsigned"))
        #expect(!out.contains("warning: sink slack has no secret"), "chat platforms are not signed anyway")
        #expect(!(out + err).contains("XXXXSECRET"))
        #expect(!(out + err).contains("/services/"))
        chmod(fixture.configPath, 0o600)
        let (_, quiet, _) = try await runCLI(["check-config", "--config", fixture.configPath])
        #expect(!quiet.contains("readable by other users"))
    }

    @Test("check-config warns about a sendmail command only when no_new_privs is set, as under the shipped unit")
    func sendmailUnderNoNewPrivs() async throws {
        let fixture = try DaemonFixture(
            baseURL: "http://127.0.0.1:9",
            authId: "MASENDMAIL0000000000",
            token: "t",
            extra: """
                [[sinks]]
                name = "queue"
                type = "mail"
                from = "watch@example.com"
                to = ["ops@example.com"]
                command = ["/usr/sbin/sendmail", "-t", "-oi"]
                [[sinks]]
                name = "relay"
                type = "mail"
                from = "watch@example.com"
                to = ["ops@example.com"]
                transport = "smtp"
                url = "smtp://localhost:25"
                starttls = "none"
                """
        )
        let (code, plain, _) = try await runCLI(["check-config", "--config", fixture.configPath])
        #expect(code == 0)
        #expect(!plain.contains("no_new_privs"))
        let (restrictedCode, restricted, err) = try await runCLI(
            ["--no-new-privs", TestBinaries.complianceWatch.path, "check-config", "--config", fixture.configPath],
            executable: URL(fileURLWithPath: "/usr/bin/setpriv")
        )
        #expect(restrictedCode == 0, "\(err)")
        #expect(
            restricted.contains("warning: sink queue runs /usr/sbin/sendmail, but this process has no_new_privs set")
        )
        #expect(!restricted.contains("sink relay runs"), "SMTP to the local relay needs no privileges")
    }

    @Test("test-sink sends a synthetic event through a sink without the Plivo token, and refuses the audit file")
    func testSink() async throws {
        let mailPath = FileManager.default.temporaryDirectory.appendingPathComponent("cw-mail-\(UUID().uuidString).txt")
            .path
        let fixture = try DaemonFixture(
            baseURL: "http://127.0.0.1:9",
            authId: "MATESTSINK0000000000",
            token: "t",
            extra: """
                [[sinks]]
                name = "mail"
                type = "mail"
                command = ["/usr/bin/tee", "\(mailPath)"]
                from = "watch@example.com"
                to = ["ops@example.com"]
                """
        )
        try FileManager.default.removeItem(at: fixture.directory.appendingPathComponent("token"))
        let (code, out, err) = try await runCLI(
            ["test-sink", "mail", "--config", fixture.configPath],
            environment: ["PLIVO_AUTH_TOKEN": ""]
        )
        #expect(code == 0, "\(err)")
        #expect(out.hasPrefix("mail: delivered evt_test_"))
        let mail = try String(contentsOfFile: mailPath, encoding: .utf8)
        #expect(mail.contains("compliance-watch test"))
        let (fileCode, _, fileErr) = try await runCLI(["test-sink", "audit", "--config", fixture.configPath])
        #expect(fileCode == 64)
        #expect(fileErr.contains("file sink"))
        #expect(!FileManager.default.fileExists(atPath: fixture.auditPath))
    }

    @Test("every command explains itself with --help")
    func help() async throws {
        for command in [
            [], ["run"], ["once"], ["status"], ["check-config"], ["deliveries", "list"], ["deliveries", "redeliver"],
            ["audit", "verify"], ["test-sink"], ["reload"],
        ] {
            let (code, out, _) = try await runCLI(command + ["--help"])
            #expect(code == 0, "\(command)")
            #expect(out.contains("USAGE:"), "\(command)")
            #expect(out.contains("OVERVIEW:"), "\(command) has an abstract")
        }
    }

    @Test("journal field names and priorities")
    func journalMapping() {
        #expect(JournalLogHandler.fieldName("cw.application.id") == "CW_APPLICATION_ID")
        #expect(JournalLogHandler.fieldName("sl-service") == "CW_SL_SERVICE")
        #expect(JournalLogHandler.fieldName("_pid") == "CW_PID")
        #expect(JournalLogHandler.priority(.warning) == 4)
        #expect(JournalLogHandler.priority(.debug) == 7)
        #expect(LogFormat.auto.resolved(environment: [:]) == .text)
        #expect(LogFormat.auto.resolved(environment: ["JOURNAL_STREAM": "1:1"]) == .text, "stderr is not that stream")
    }
}

@Suite("One writer per state", .timeLimit(.minutes(1)))
struct SingleWriterTests {
    @Test("once beside a running daemon exits 75 naming its pid; read-only commands still work")
    func secondWriterRefused() async throws {
        let authId = "MALOCK00000000000000"
        let sandbox = try await SandboxServer.start(.init(authId: authId, authToken: "t", rateLimit: 0))
        defer { sandbox.stop() }
        await sandbox.seed(count: 5)
        let fixture = try DaemonFixture(baseURL: await sandbox.baseURL, authId: authId, token: "t")
        let socket = try FakeNotifySocket(abstract: true)
        let process = try fixture.launchNotifying(socket)
        defer { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
        #expect(await socket.wait { _ in socket.count("READY=1") == 1 })
        #expect(try await fixture.waitForBaseline(account: authId))

        for command in ["once", "run"] {
            let (code, _, err) = try await runCLI([command, "--config", fixture.configPath])
            #expect(code == 75, "\(command)")
            #expect(err.contains("state \(fixture.statePath) is in use by pid \(process.processIdentifier)"), "\(err)")
        }
        let (statusCode, statusOut, _) = try await runCLI(["status", "--config", fixture.configPath])
        #expect(statusCode == 0)
        #expect(statusOut.contains("applications: 5"))
        #expect(try await runCLI(["deliveries", "list", "--config", fixture.configPath]).0 == 0)

        // The lock dies with its holder, however it dies.
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        #expect(try await runCLI(["once", "--config", fixture.configPath]).0 == 0)
    }

    @Test(
        "pending deliveries of a sink removed from the configuration become dead letters that redeliver can bring back"
    )
    func removedSink() async throws {
        let authId = "MAREMOVED00000000000"
        let sandbox = try await SandboxServer.start(.init(authId: authId, authToken: "t", rateLimit: 0))
        defer { sandbox.stop() }
        await sandbox.seed(count: 3)
        let hook = """
            [[sinks]]
            name = "hook"
            type = "webhook"
            url = "http://127.0.0.1:1/hook"
            """
        let fixture = try DaemonFixture(baseURL: await sandbox.baseURL, authId: authId, token: "t", extra: hook)
        // Failed deliveries wait an hour or so, so they stay pending through `once`.
        let original = try String(contentsOfFile: fixture.configPath, encoding: .utf8)
            .replacingOccurrences(
                of: "backoff_base = \"10ms\"\nbackoff_max = \"100ms\"",
                with: "backoff_base = \"1h\"\nbackoff_max = \"2h\"\nmax_attempts = 1000"
            )
        #expect(original.contains("max_attempts = 1000"))
        try original.replacingOccurrences(of: "[poll]", with: "[poll]\nannounce_existing = true")
            .write(toFile: fixture.configPath, atomically: true, encoding: .utf8)
        #expect(try await runCLI(["once", "--config", fixture.configPath]).0 == 0)
        let (_, before, _) = try await runCLI(["status", "--config", fixture.configPath])
        #expect(before.contains("hook             pending    3"))

        try original.replacingOccurrences(of: hook, with: "").replacingOccurrences(
            of: "[poll]",
            with: "[poll]\nannounce_existing = true"
        )
        .write(toFile: fixture.configPath, atomically: true, encoding: .utf8)
        #expect(try await runCLI(["once", "--config", fixture.configPath]).0 == 0)
        let (_, after, _) = try await runCLI(["status", "--config", fixture.configPath])
        #expect(after.contains("hook             dead       3"))
        let (_, dead, _) = try await runCLI(["deliveries", "list", "--config", fixture.configPath, "--state", "dead"])
        #expect(dead.split(separator: "\n").count == 3)
        #expect(dead.contains("sink removed from configuration"))
    }
}

@Suite("Daemon without sinks", .timeLimit(.minutes(1)))
struct NoSinkTests {
    @Test("a configuration with no sinks runs until SIGTERM and exits 0")
    func runsWithoutSinks() async throws {
        let authId = "MANOSINK000000000000"
        let sandbox = try await SandboxServer.start(.init(authId: authId, authToken: "t", rateLimit: 0))
        defer { sandbox.stop() }
        let fixture = try DaemonFixture(baseURL: await sandbox.baseURL, authId: authId, token: "t")
        let text = try String(contentsOfFile: fixture.configPath, encoding: .utf8)
        try String(text[..<text.range(of: "[[sinks]]")!.lowerBound]).write(
            toFile: fixture.configPath,
            atomically: true,
            encoding: .utf8
        )
        let socket = try FakeNotifySocket(abstract: true)
        let process = try fixture.launchNotifying(socket)
        #expect(await socket.wait { _ in socket.count("READY=1") == 1 })
        try await Task.sleep(for: .milliseconds(500))
        #expect(process.isRunning, "the daemon stays up with nothing to deliver to")
        kill(process.processIdentifier, SIGTERM)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
    }
}
