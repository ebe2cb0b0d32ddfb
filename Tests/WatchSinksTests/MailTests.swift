import CurlHTTP
import Foundation
import Testing
import WatchCore
import WatchTesting
@testable import WatchSinks

private func headers(_ message: Data) -> [String: String] {
    let text = String(decoding: message, as: UTF8.self)
    let head = text.components(separatedBy: "\r\n\r\n")[0]
    var result: [String: String] = [:]
    var last = ""
    for line in head.components(separatedBy: "\r\n") {
        if line.hasPrefix(" "), !last.isEmpty {
            result[last, default: ""] += line
            continue
        }
        guard let colon = line.firstIndex(of: ":") else { continue }
        last = String(line[..<colon])
        result[last] = String(line[line.index(after: colon)...]).trimmingCharacters(in: .whitespaces)
    }
    return result
}

@Suite("Mail", .timeLimit(.minutes(1)))
struct MailTests {
    let message = MailMessage(from: "watch@example.com", to: ["ops@example.com", "legal@example.com"])

    @Test("RFC 5322 headers, a threaded conversation per application, quoted-printable UTF-8 body")
    func shape() throws {
        let event = makeEvent()
        let data = message.render(event, date: Date(timeIntervalSince1970: 1_764_064_803))
        let h = headers(data)
        #expect(h["From"] == "watch@example.com")
        #expect(h["To"] == "ops@example.com, legal@example.com")
        #expect(h["Date"] == "Tue, 25 Nov 2025 10:00:03 +0000")
        #expect(h["MIME-Version"] == "1.0")
        #expect(h["Content-Type"] == "text/plain; charset=UTF-8")
        #expect(h["Content-Transfer-Encoding"] == "quoted-printable")
        #expect(h["Message-ID"] == "<\(event.id)@compliance-watch.invalid>")
        #expect(h["In-Reply-To"] == "<application.7c83fd87-fb5d-4a88-bde0-7c96da35f1e6@compliance-watch.invalid>")
        #expect(h["References"] == h["In-Reply-To"])
        let other = headers(message.render(makeEvent(from: "accepted", to: "suspended", version: 2)))
        #expect(other["In-Reply-To"] == h["In-Reply-To"], "same application, same thread")
        #expect(other["Message-ID"] != h["Message-ID"])
        let body = String(decoding: data, as: UTF8.self).components(separatedBy: "\r\n\r\n").dropFirst().joined(
            separator: "\r\n\r\n"
        )
        #expect(body.contains("=E2=9C=85 acme-fr-mobile accepted"))
        #expect(body.split(separator: "\r\n").allSatisfy { $0.count <= 76 })
    }

    @Test("the subject reads as a transition and is RFC 2047 encoded when not ASCII")
    func subject() {
        #expect(message.subject(for: makeEvent()) == "[compliance] acme-fr-mobile: submitted → accepted")
        let encoded = headers(message.render(makeEvent()))["Subject"] ?? ""
        #expect(encoded.hasPrefix("=?UTF-8?B?"))
        let decoded = encoded.components(separatedBy: "?=").compactMap { word -> String? in
            guard let start = word.range(of: "=?UTF-8?B?") else { return nil }
            return Data(base64Encoded: String(word[start.upperBound...])).map { String(decoding: $0, as: UTF8.self) }
        }.joined()
        #expect(decoded == "[compliance] acme-fr-mobile: submitted → accepted")
        let ascii = MailMessage(from: "a@b.c", to: ["d@e.f"], subjectPrefix: "[compliance]")
        #expect(MailMessage.encodeHeader("[compliance] plain: deleted") == "[compliance] plain: deleted")
        #expect(
            ascii.subject(for: makeEvent(alias: "plain", from: "draft", to: "submitted"))
                == "[compliance] plain: draft → submitted"
        )
    }

    @Test("CR, LF and control characters from the API never start a header line")
    func noHeaderInjection() {
        let evil = makeEvent(
            alias: "acme\r\nBcc: thief@evil.example\r\n\r\nforged body",
            to: "rejected",
            reason: "x\nX-Injected: 1"
        )
        let text = String(decoding: message.render(evil), as: UTF8.self)
        let head = text.components(separatedBy: "\r\n\r\n")[0]
        for line in head.components(separatedBy: "\r\n") {
            #expect(!line.lowercased().hasPrefix("bcc:"))
            #expect(!line.hasPrefix("X-Injected"))
        }
        #expect(!text.contains("\r\nBcc:"))
        #expect(MailMessage.clean("a\r\nb\u{0}c\u{7}") == "a  b c ")
    }

    @Test("command transport: argv without a shell, the message on stdin")
    func command() async throws {
        let dir = try temporaryDirectory()
        let capture = dir.appendingPathComponent("mail.eml").path
        let sink = MailSink(
            name: "mail",
            configuration: .init(
                message: message,
                transport: .command(argv: ["/usr/bin/tee", capture], timeout: .seconds(5))
            )
        )
        try await sink.deliver(makeEvent())
        let written = try #require(FileManager.default.contents(atPath: capture))
        #expect(headers(written)["Message-ID"] == "<\(makeEvent().id)@compliance-watch.invalid>")
    }

    @Test("a failing command is retryable and keeps its stderr; a hung one times out")
    func commandFailures() async throws {
        let failing = MailSink(
            name: "m",
            configuration: .init(
                message: message,
                transport: .command(
                    argv: ["/bin/sh", "-c", "cat >/dev/null; echo 'relay refused' >&2; exit 3"],
                    timeout: .seconds(5)
                )
            )
        )
        let error = await #expect(throws: DeliveryError.self) { try await failing.deliver(makeEvent()) }
        #expect(error?.isRetryable == true)
        #expect(error?.message == "/bin/sh exited with status 3: relay refused")

        let hung = MailSink(
            name: "m",
            configuration: .init(
                message: message,
                transport: .command(argv: ["/bin/sleep", "10"], timeout: .milliseconds(300))
            )
        )
        let timeout = await #expect(throws: DeliveryError.self) { try await hung.deliver(makeEvent()) }
        #expect(timeout?.message.contains("did not finish") == true)

        let missing = MailSink(
            name: "m",
            configuration: .init(
                message: message,
                transport: .command(argv: ["/nonexistent/sendmail"], timeout: .seconds(1))
            )
        )
        let notFound = await #expect(throws: DeliveryError.self) { try await missing.deliver(makeEvent()) }
        #expect(notFound?.message.hasPrefix("cannot run /nonexistent/sendmail") == true)
    }

    @Test(
        "a command that never reads its input, or floods stderr, is an error with bounded text, never a crash or a hang"
    )
    func hostileCommands() async throws {
        // 1 MiB of message to a command that exits at once: the daemon must get EPIPE, not SIGPIPE.
        var big = makeEvent()
        big.data.application.alias = String(repeating: "x", count: 1 << 20)
        let deaf = MailSink(
            name: "m",
            configuration: .init(
                message: message,
                transport: .command(argv: ["/bin/sh", "-c", "echo 'not reading' >&2; exit 75"], timeout: .seconds(5))
            )
        )
        let refused = await #expect(throws: DeliveryError.self) { try await deaf.deliver(big) }
        #expect(refused?.isRetryable == true)
        #expect(refused?.message.isEmpty == false)

        // 4 MiB on stderr, then a failure: kept to the limit, and the pipe never fills up.
        let chatty = MailSink(
            name: "m",
            configuration: .init(
                message: message,
                transport: .command(
                    argv: ["/bin/sh", "-c", "cat >/dev/null; head -c 4194304 /dev/zero | tr '\\0' e >&2; exit 2"],
                    timeout: .seconds(20)
                )
            )
        )
        let flooded = await #expect(throws: DeliveryError.self) { try await chatty.deliver(makeEvent()) }
        #expect(flooded?.message.hasPrefix("/bin/sh exited with status 2: eeee") == true)
        #expect((flooded?.message.count ?? .max) < MailSink.stderrLimit + 100)

        // A command that ignores SIGTERM is killed by the teardown's SIGKILL.
        let stubborn = MailSink(
            name: "m",
            configuration: .init(
                message: message,
                transport: .command(
                    argv: ["/bin/sh", "-c", "trap '' TERM; cat >/dev/null; sleep 30"],
                    timeout: .milliseconds(300)
                )
            )
        )
        let started = ContinuousClock.now
        let killed = await #expect(throws: DeliveryError.self) { try await stubborn.deliver(makeEvent()) }
        #expect(killed?.message.contains("did not finish within") == true)
        #expect(ContinuousClock.now - started < .seconds(25), "the teardown ended it, not the command's own sleep")
    }

    static let smtpAvailable = FileManager.default.fileExists(atPath: "/usr/lib/python3/dist-packages/aiosmtpd")

    /// Starts scripts/smtp-capture.py, a real SMTP server (aiosmtpd) on loopback.
    func startSMTP(_ dir: URL, auth: String? = nil) throws -> (Process, Int) {
        let server = Process()
        server.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
            "../../scripts/smtp-capture.py"
        ).standardized.path
        server.arguments = [script, dir.path, "0"] + (auth.map { [$0] } ?? [])
        let out = Pipe()
        server.standardOutput = out
        try server.run()
        ChildProcesses.killAtExit(server)
        var line = Data()
        while !line.contains(0x0A) {
            let chunk = out.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            line.append(chunk)
        }
        let port = try #require(
            String(decoding: line, as: UTF8.self).split(separator: " ").last.flatMap {
                Int($0.trimmingCharacters(in: .whitespacesAndNewlines))
            }
        )
        return (server, port)
    }

    @Test(
        "SMTP AUTH with the configured credentials; a wrong password is final",
        .enabled(if: smtpAvailable, "python3-aiosmtpd is not installed")
    )
    func smtpAuth() async throws {
        let dir = try temporaryDirectory()
        let (server, port) = try startSMTP(dir, auth: "watch:correct-horse")
        defer {
            kill(server.processIdentifier, SIGKILL)
            server.waitUntilExit()
        }
        func sink(password: String) -> MailSink {
            MailSink(
                name: "mail",
                configuration: .init(
                    message: message,
                    transport: .smtp(
                        .init(
                            url: "smtp://127.0.0.1:\(port)",
                            credentials: BasicCredentials(username: "watch", password: password),
                            allowPlaintext: true,
                            timeout: .seconds(5)
                        )
                    )
                )
            )
        }
        try await sink(password: "correct-horse").deliver(makeEvent())
        let stored = try #require(FileManager.default.contents(atPath: dir.appendingPathComponent("0001.eml").path))
        #expect(headers(stored)["X-Auth-User"] == "watch")

        let refused = await #expect(throws: DeliveryError.self) {
            try await sink(password: "wrong").deliver(makeEvent())
        }
        #expect(refused?.disposition == .final, "\(String(describing: refused))")
        #expect(refused?.message.contains("wrong") == false, "the password is not echoed")
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("0002.eml").path))
    }

    @Test("SMTP to a real server on loopback", .enabled(if: smtpAvailable, "python3-aiosmtpd is not installed"))
    func smtp() async throws {
        let dir = try temporaryDirectory()
        let (server, port) = try startSMTP(dir)
        defer {
            kill(server.processIdentifier, SIGKILL)  // SIGTERM may be blocked in the inherited signal mask
            server.waitUntilExit()
        }

        let sink = MailSink(
            name: "mail",
            configuration: .init(
                message: message,
                transport: .smtp(.init(url: "smtp://127.0.0.1:\(port)", allowPlaintext: true, timeout: .seconds(5)))
            )
        )
        try await sink.deliver(makeEvent(to: "rejected", reason: "Address proof is older than 3 months"))
        let stored = try #require(FileManager.default.contents(atPath: dir.appendingPathComponent("0001.eml").path))
        let h = headers(stored)
        #expect(h["X-Envelope-From"] == "watch@example.com")
        #expect(h["X-Envelope-To"] == "ops@example.com,legal@example.com")
        #expect(String(decoding: stored, as: UTF8.self).contains("rejected: Address proof is older than 3 months"))

        // STARTTLS is required unless relaxed: this server offers none, so the send fails.
        let strict = MailSink(
            name: "mail",
            configuration: .init(
                message: message,
                transport: .smtp(.init(url: "smtp://127.0.0.1:\(port)", allowPlaintext: false, timeout: .seconds(5)))
            )
        )
        let error = await #expect(throws: DeliveryError.self) { try await strict.deliver(makeEvent()) }
        #expect(error?.message.contains("curl error 64") == true)
    }
}

@Suite("Sink configuration")
struct SinkConfigurationTests {
    func load(
        _ sinks: String,
        env: [String: String] = ["PLIVO_AUTH_TOKEN": "t"]
    ) -> (sinks: [any Sink], problems: [String]) {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("cw-sinks-\(UUID().uuidString).toml")
            .path
        try? "[plivo]\nauth_id = \"MA1\"\n\(sinks)".write(toFile: path, atomically: true, encoding: .utf8)
        do {
            let configuration = try DaemonConfiguration.load(path: path, environment: env, readSink: SinkCatalog.read)
            let resources = SinkCatalog.Resources(store: nil, transport: CurlTransport())
            return (configuration.sinks.compactMap { SinkCatalog.make($0, resources: resources) }, [])
        } catch {
            return (
                [],
                error.problems.map { "\($0.location.line.map(String.init) ?? "-"): \($0.location.key): \($0.message)" }
            )
        }
    }

    @Test("every sink type builds from TOML")
    func builds() throws {
        let dir = try temporaryDirectory()
        let secret = dir.appendingPathComponent("hook.secret").path
        try writeSecretFile(secretA, to: secret)
        let (sinks, problems) = load(
            """
            [[sinks]]
            name = "audit"
            type = "file"
            path = "audit.jsonl"
            [[sinks]]
            name = "slack"
            type = "webhook"
            url = "https://hooks.slack.com/services/T000/B000/XXXX"
            format = "slack"
            secret_files = ["\(secret)"]
            timeout = "5s"
            [sinks.headers]
            X-Team = "ops"
            [[sinks]]
            name = "mail"
            type = "mail"
            from = "watch@example.com"
            to = ["ops@example.com"]
            [[sinks]]
            name = "smtp"
            type = "mail"
            transport = "smtp"
            url = "smtp://127.0.0.1:2525"
            starttls = "none"
            from = "watch@example.com"
            to = "ops@example.com"
            """
        )
        #expect(problems == [])
        #expect(sinks.map(\.name) == ["audit", "slack", "mail", "smtp"])
    }

    @Test("a webhook URL from a file or a systemd credential; exactly one source")
    func urlSecrets() throws {
        let dir = try temporaryDirectory()
        let url = "https://hooks.slack.com/services/T0/B0/XXXXSECRET"
        try writeSecretFile(url + "\n", to: dir.appendingPathComponent("hook.url").path)
        try writeSecretFile(url, to: dir.appendingPathComponent("chat-url").path)
        let fromFile = load(
            """
            [[sinks]]
            name = "a"
            type = "webhook"
            format = "slack"
            url_file = "\(dir.path)/hook.url"
            [[sinks]]
            name = "b"
            type = "webhook"
            format = "slack"
            url_credential = "chat-url"
            """,
            env: ["PLIVO_AUTH_TOKEN": "t", "CREDENTIALS_DIRECTORY": dir.path]
        )
        #expect(fromFile.problems == [])
        #expect(fromFile.sinks.compactMap { ($0 as? WebhookSink)?.configuration.url } == [url, url])

        let (_, problems) = load(
            """
            [[sinks]]
            name = "both"
            type = "webhook"
            url = "https://example.com/hook"
            url_file = "\(dir.path)/hook.url"
            [[sinks]]
            name = "none"
            type = "webhook"
            [[sinks]]
            name = "bad"
            type = "webhook"
            url_file = "\(dir.path)/chat-url-missing"
            """
        )
        #expect(problems.contains { $0.hasSuffix("sinks[1].url: set only one of url, url_file and url_credential") })
        #expect(problems.contains { $0.hasSuffix("sinks[2].url: missing: set url, url_file or url_credential") })
        #expect(problems.contains { $0.contains("sinks[3].url_file: cannot read") })
        #expect(!problems.joined().contains("XXXXSECRET"))
    }

    @Test("bad sink settings are named with their line and key")
    func problems() {
        let (_, problems) = load(
            """
            [[sinks]]
            name = "hook"
            type = "webhook"
            url = "hooks.example.com/x"
            format = "irc"
            secret_files = ["/nonexistent/secret"]
            [[sinks]]
            name = "smtp"
            type = "mail"
            transport = "smtp"
            url = "smtp://mail.example.com"
            starttls = "none"
            from = "watch@example.com"
            to = []
            colour = "red"
            """
        )
        #expect(problems.contains("6: sinks[1].url: not an absolute http(s) URL"))
        #expect(problems.contains("7: sinks[1].format: 'irc' is not one of json, slack, mattermost, teams, discord"))
        #expect(
            problems.contains("8: sinks[1].secret_files: cannot read /nonexistent/secret: No such file or directory")
        )
        #expect(
            problems.contains { $0.hasPrefix("14: sinks[2].starttls: \"none\" is allowed only for a loopback relay") }
        )
        #expect(problems.contains { $0.hasSuffix("sinks[2].to: missing: at least one recipient") })
        #expect(problems.contains("17: sinks[2].colour: unknown key"))
    }
}
