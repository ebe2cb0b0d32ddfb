import Foundation
import Testing
import WatchTesting
@testable import WatchCore
import WatchSinks

@Suite("Configuration")
struct ConfigurationTests {
    static let env = ["PLIVO_AUTH_TOKEN": "env-token-s3cr3t"]

    func parse(
        _ text: String,
        env: [String: String] = ConfigurationTests.env
    ) throws(ConfigurationError) -> DaemonConfiguration {
        try DaemonConfiguration.parse(text: text, path: "/etc/cw/test.toml", environment: env)
    }

    func problems(_ text: String, env: [String: String] = ConfigurationTests.env) -> [String] {
        do {
            _ = try parse(text, env: env)
            return []
        } catch {
            return error.problems.map(\.description)
        }
    }

    @Test(
        "[[accounts]]: each account inherits [plivo]'s settings, has its own token and rate, and sink filters name accounts"
    )
    func accounts() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "cw-accounts-\(UUID().uuidString)"
        )
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try writeSecretFile("token-of-acme\n", to: directory.appendingPathComponent("acme-token").path)
        try writeSecretFile("token-of-beta", to: directory.appendingPathComponent("plivo-auth-token-beta").path)
        let text = """
            [plivo]
            base_url = "http://127.0.0.1:9"
            timeout = "5s"
            max_requests_per_second = 7
            [[accounts]]
            name = "acme"
            auth_id = "MAACME00000000000000"
            auth_token_file = "\(directory.path)/acme-token"
            max_requests_per_second = 20
            [[accounts]]
            name = "beta"
            auth_id = "SABETA00000000000000"
            [[sinks]]
            name = "audit"
            type = "file"
            path = "a.jsonl"
            [sinks.filter]
            accounts = ["beta", "MAACME00000000000000"]
            """
        let c = try parse(text, env: ["CREDENTIALS_DIRECTORY": directory.path])
        #expect(c.accounts.map(\.name) == ["acme", "beta"])
        #expect(c.accounts.map(\.authToken) == ["token-of-acme", "token-of-beta"])
        #expect(c.accounts.map(\.maxRequestsPerSecond) == [20, 7], "own rate, else [plivo]'s")
        #expect(c.accounts.allSatisfy { $0.baseURL == "http://127.0.0.1:9" && $0.timeout == .seconds(5) })
        #expect(c.accounts[1].authTokenSource == "credential plivo-auth-token-beta")
        #expect(
            c.sinks[0].filter.accounts == ["SABETA00000000000000", "MAACME00000000000000"],
            "names resolve to auth ids"
        )
        #expect(c.sinks[0].filter.matches(type: .created, from: nil, to: "draft", account: "SABETA00000000000000"))
        #expect(!c.sinks[0].filter.matches(type: .created, from: nil, to: "draft", account: "MAOTHER0000000000000"))
        #expect(!"\(c.accounts)".contains("token-of"), "descriptions never show a token")

        // A single [plivo] table is one account named by its auth id.
        let single = try parse("[plivo]\nauth_id = \"MA1\"\n")
        #expect(single.accounts.map(\.name) == ["MA1"])
    }

    @Test("[[accounts]] problems are named with their lines")
    func accountProblems() {
        let found = problems(
            """
            [plivo]
            auth_id = "MASHARED000000000000"
            [[accounts]]
            name = "acme"
            auth_id = "MAACME00000000000000"
            [[accounts]]
            name = "acme"
            auth_id = "MAACME00000000000000"
            [[accounts]]
            name = "no spaces"
            auth_id = "XX1"
            [[sinks]]
            name = "audit"
            type = "file"
            path = "a.jsonl"
            [sinks.filter]
            accounts = ["nobody"]
            """,
            env: [:]
        )
        #expect(found.contains { $0.contains(":2: plivo.auth_id: belongs in each [[accounts]] table") }, "\(found)")
        #expect(found.contains { $0.contains("accounts[2].name: duplicate account name 'acme'") })
        #expect(found.contains { $0.contains("accounts[2].auth_id: MAACME00000000000000 is already watched") })
        #expect(found.contains { $0.contains("accounts[3].name: 'no spaces' may hold only") })
        #expect(found.contains { $0.contains("accounts[3].auth_id: 'XX1' is not a Plivo auth id") })
        #expect(
            found.contains {
                $0.contains("accounts[1].auth_token_file: missing the auth token of account acme")
                    && $0.contains("plivo-auth-token-acme")
            }
        )
        #expect(found.contains { $0.contains("sinks[1].filter.accounts: 'nobody' is not a configured account") })
    }

    @Test("the shipped example is valid and documents the defaults")
    func example() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
            "../../config/compliance-watch.toml"
        )
        let c = try DaemonConfiguration.load(path: url.path, environment: Self.env, readSink: SinkCatalog.read)
        let sinks = c.sinks
        #expect(c.plivo.authId == "MAXXXXXXXXXXXXXXXXXX")
        #expect(c.plivo.authToken == "env-token-s3cr3t")
        #expect(c.plivo.maxRequestsPerSecond == 10)
        #expect(c.plivo.concurrency == 4)
        #expect(c.poll.interval == .seconds(30))
        #expect(c.poll.settledInterval == .seconds(6 * 3600))
        #expect(c.state.path == "/var/lib/compliance-watch/state.db")
        #expect(sinks.map(\.name) == ["audit"])
    }

    @Test("every example the package ships under /usr/share/doc loads, given the credentials it names")
    func packagedExamples() throws {
        let examples = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
            "../../config/examples"
        ).standardized
        let credentials = FileManager.default.temporaryDirectory.appendingPathComponent(
            "cw-examples-\(UUID().uuidString)"
        )
        try FileManager.default.createDirectory(at: credentials, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: credentials) }
        let values = [
            "plivo-auth-token": "example-token", "slack-webhook-url": "https://hooks.slack.com/services/T0/B0/X",
            "backend-webhook-secret": "whsec_" + Data(repeating: 7, count: 32).base64EncodedString(),
            "smtp-password": "example-password", "state-db-password": "example-password",
            "audit-seed": String(repeating: "5a", count: 32),
        ]
        for (name, value) in values { try writeSecretFile(value, to: credentials.appendingPathComponent(name).path) }
        let files = try FileManager.default.contentsOfDirectory(atPath: examples.path).filter { $0.hasSuffix(".toml") }
            .sorted()
        #expect(files == ["chat-and-webhook.toml", "mail-smtp.toml", "postgresql-ha.toml"])
        for file in files {
            let c = try DaemonConfiguration.load(
                path: examples.appendingPathComponent(file).path,
                environment: ["CREDENTIALS_DIRECTORY": credentials.path],
                readSink: SinkCatalog.read
            )
            #expect(c.plivo.authToken == "example-token", "\(file)")
            #expect(c.sinks.first?.name == "audit", "\(file): the audit trail comes first")
        }
    }

    @Test("state retention: 30 days of delivered rows by default, events kept unless event_retention is set")
    func retentionSettings() throws {
        let defaults = try parse("[plivo]\nauth_id = \"MA1\"\n")
        #expect(defaults.state.deliveryRetention == .seconds(30 * 86400))
        #expect(defaults.state.eventRetention == nil)
        let set = try parse(
            "[plivo]\nauth_id = \"MA1\"\n[state]\ndelivery_retention = \"7d\"\nevent_retention = \"730d\"\n"
        )
        #expect(set.state.deliveryRetention == .seconds(7 * 86400))
        #expect(set.state.eventRetention == .seconds(730 * 86400))
        #expect(
            problems("[plivo]\nauth_id = \"MA1\"\n[state]\nevent_retention = \"1h\"\n").contains {
                $0.contains("state.event_retention: must be at least")
            }
        )
    }

    @Test(
        "the audit sealing seed comes from a file or a credential, as 64 hex digits or base64 of 32 bytes, and is never shown"
    )
    func sealingSeed() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cw-seed-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let hex = String(repeating: "ab", count: 32)
        try writeSecretFile(hex + "\n", to: dir.appendingPathComponent("seed").path)
        try writeSecretFile("short", to: dir.appendingPathComponent("bad").path)
        // 64 characters that are hex digits to Swift (fullwidth ａ and ｂ) but not to UInt8(_:radix:).
        try writeSecretFile(String(repeating: "ａｂ", count: 32), to: dir.appendingPathComponent("wide").path)
        let base = "[plivo]\nauth_id = \"MA1\"\n[audit]\n"
        func load(_ extra: String) throws(ConfigurationError) -> DaemonConfiguration {
            try DaemonConfiguration.parse(
                text: base + extra,
                path: dir.appendingPathComponent("cw.toml").path,
                environment: Self.env
            )
        }
        let configured = try load("sealing_key_file = \"seed\"\n")
        #expect(configured.audit.seed == Data(repeating: 0xAB, count: 32))
        #expect(!"\(configured.audit)".contains("ab"), "\(configured.audit)")
        #expect(try load("").audit.seed == nil)
        #expect(try load("").audit.seal)
        for bad in ["bad", "wide"] {
            let error = #expect(throws: ConfigurationError.self) { try load("sealing_key_file = \"\(bad)\"\n") }
            #expect(error.map { "\($0)".contains("not 32 bytes") } == true, "refused for what \(bad) holds")
        }
        #expect(throws: ConfigurationError.self) {
            try load("sealing_key_file = \"seed\"\nsealing_key_credential = \"x\"\n")
        }
    }

    @Test("a secret file that group or others may access is refused, naming the file and its mode")
    func looseSecretModes() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cw-modes-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let token = dir.appendingPathComponent("token").path, seed = dir.appendingPathComponent("seed").path
        try writeSecretFile("t0ken-value\n", to: token)
        try writeSecretFile(String(repeating: "cd", count: 32), to: seed)
        let text =
            "[plivo]\nauth_id = \"MA1\"\nauth_token_file = \"\(token)\"\n[audit]\nsealing_key_file = \"\(seed)\"\n"
        #expect(problems(text).isEmpty)
        for (mode, octal) in [(0o644, "0644"), (0o640, "0640"), (0o604, "0604"), (0o620, "0620")] {
            try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: token)
            try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: seed)
            let found = problems(text)
            #expect(
                found == [
                    "/etc/cw/test.toml:3: plivo.auth_token_file: \(token) is accessible by group or others (mode \(octal)); secret files must be private: chmod 600 \(token)",
                    "/etc/cw/test.toml:5: audit.sealing_key_file: \(seed) is accessible by group or others (mode \(octal)); secret files must be private: chmod 600 \(seed)",
                ]
            )
            #expect(!found.joined().contains("t0ken-value"))
        }
        // Owner-only modes, read-only included, are fine.
        try FileManager.default.setAttributes([.posixPermissions: 0o400], ofItemAtPath: token)
        try FileManager.default.setAttributes([.posixPermissions: 0o400], ofItemAtPath: seed)
        #expect(problems(text).isEmpty)
    }

    @Test("defaults apply when sections are absent; relative paths follow the file")
    func defaults() throws {
        let c = try parse("[plivo]\nauth_id = \"MA1234\"\n[state]\npath = \"state.db\"\n")
        #expect(c.plivo.baseURL == "https://api.plivo.com")
        #expect(c.poll.jitter == 0.1)
        #expect(c.poll.announceExisting == false)
        #expect(c.delivery.maxAttempts == nil, "max_age ends retries")
        #expect(c.delivery.maxAge == .seconds(72 * 3600))
        #expect(c.delivery.backoffMax == .seconds(3600))
        #expect(c.state.path == "/etc/cw/state.db")
        #expect(c.sinks.isEmpty)
    }

    @Test("token lookup order: file, then credentials directory, then environment")
    func tokenOrder() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cw-cred-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try "from-credential\n".write(
            to: dir.appendingPathComponent("plivo-auth-token"),
            atomically: true,
            encoding: .utf8
        )
        try writeSecretFile("from-file\n", to: dir.appendingPathComponent("token").path)
        let env = ["PLIVO_AUTH_TOKEN": "from-env", "CREDENTIALS_DIRECTORY": dir.path, "PLIVO_AUTH_ID": "SA123"]
        let withFile = try parse("[plivo]\nauth_token_file = \"\(dir.path)/token\"\n", env: env)
        #expect(withFile.plivo.authToken == "from-file")
        #expect(withFile.plivo.authId == "SA123")
        #expect(try parse("", env: env).plivo.authToken == "from-credential")
        #expect(
            try parse("", env: ["PLIVO_AUTH_TOKEN": "from-env", "PLIVO_AUTH_ID": "MA1"]).plivo.authToken == "from-env"
        )
    }

    @Test("every problem is reported at once, each with file, line and key")
    func problemsWithLines() {
        let found = problems(
            """
            [plivo]
            auth_id = "MA1234"
            base_url = "ftp://example.com"
            concurrency = "four"
            colour = "blue"

            [poll]
            interval = "soon"
            jitter = 0.9

            [[sinks]]
            name = "audit"
            type = "file"
            path = "a.jsonl"

            [[sinks]]
            name = "audit"
            type = "pigeon"
            [sinks.filter]
            types = ["compliance_application.approved"]
            """
        )
        #expect(found.contains("/etc/cw/test.toml:3: plivo.base_url: must use https (or http), not ftp"))
        #expect(found.contains("/etc/cw/test.toml:4: plivo.concurrency: expected an integer, found a string"))
        #expect(found.contains("/etc/cw/test.toml:5: plivo.colour: unknown key"))
        #expect(found.contains { $0.hasPrefix("/etc/cw/test.toml:8: poll.interval: 'soon' is not a duration") })
        #expect(found.contains("/etc/cw/test.toml:9: poll.jitter: must be between 0.0 and 0.5, got 0.9"))
        #expect(found.contains("/etc/cw/test.toml:17: sinks[2].name: duplicate sink name 'audit'"))
        #expect(found.contains("/etc/cw/test.toml:18: sinks[2].type: 'pigeon' is not file, webhook or mail"))
        #expect(
            found.contains {
                $0.hasPrefix(
                    "/etc/cw/test.toml:20: sinks[2].filter.types: 'compliance_application.approved' is not an event type"
                )
            }
        )
        #expect(found.count == 8)
    }

    @Test("a missing secret names every place it was looked for, never a value")
    func missingSecret() {
        let found = problems("[plivo]\nauth_id = \"MA1\"\n", env: [:])
        #expect(found.count == 1)
        #expect(found[0].contains("plivo.auth_token_file"))
        #expect(found[0].contains("$CREDENTIALS_DIRECTORY/plivo-auth-token"))
        #expect(found[0].contains("$PLIVO_AUTH_TOKEN"))
        #expect(!found[0].contains("LoadCredential"), "outside systemd there is no unit to blame")
        // Under systemd: name the credential that did not arrive and the unit line to check.
        let underSystemd = problems(
            "[plivo]\nauth_id = \"MA1\"\n",
            env: ["CREDENTIALS_DIRECTORY": "/run/credentials/compliance-watch.service"]
        )
        #expect(
            underSystemd.first?.hasSuffix(
                "the credential plivo-auth-token is not in $CREDENTIALS_DIRECTORY (/run/credentials/compliance-watch.service): check LoadCredentialEncrypted=plivo-auth-token (or LoadCredential=plivo-auth-token:…) in the unit"
            ) == true
        )
        let noCredentials = problems("[plivo]\nauth_id = \"MA1\"\n", env: ["INVOCATION_ID": "abc"])
        #expect(
            noCredentials.first?.hasSuffix(
                "systemd passed no credentials: check LoadCredentialEncrypted=plivo-auth-token (or LoadCredential=plivo-auth-token:…) in the unit"
            ) == true
        )
        let unreadable = problems("[plivo]\nauth_id = \"MA1\"\nauth_token_file = \"/nonexistent/token\"\n")
        #expect(
            unreadable == [
                "/etc/cw/test.toml:3: plivo.auth_token_file: cannot read /nonexistent/token: No such file or directory"
            ]
        )
    }

    @Test("read-only commands load the file without the token")
    func withoutSecrets() throws {
        let c = try DaemonConfiguration.parse(
            text: "[plivo]\nauth_id = \"MA1\"\nauth_token_file = \"/root-only/token\"\n",
            path: "/etc/cw/test.toml",
            environment: [:],
            secrets: false
        )
        #expect(c.plivo.authToken.isEmpty)
        #expect(throws: ConfigurationError.self) {
            try DaemonConfiguration.parse(
                text: "[plivo]\nauth_id = \"MA1\"\nauth_token_file = \"/root-only/token\"\n",
                path: "/etc/cw/test.toml"
            )
        }
    }

    @Test("auth_id must look like a Plivo id")
    func authId() {
        #expect(
            problems("[plivo]\nauth_id = \"12345\"\n") == [
                "/etc/cw/test.toml:2: plivo.auth_id: '12345' is not a Plivo auth id (it starts with MA or SA)"
            ]
        )
    }

    @Test("a TOML syntax error gives its line")
    func syntaxError() {
        let found = problems("[plivo]\nauth_id = \"MA1\"\nbase_url = \n")
        #expect(found.count == 1)
        #expect(found[0].hasPrefix("/etc/cw/test.toml:3: TOML syntax error"))
    }

    @Test("an unreadable file is named with the reason")
    func unreadableFile() {
        #expect(throws: ConfigurationError.self) { try DaemonConfiguration.load(path: "/nonexistent/cw.toml") }
        do {
            _ = try DaemonConfiguration.load(path: "/nonexistent/cw.toml")
        } catch {
            #expect(error.description == "/nonexistent/cw.toml: cannot read the file: No such file or directory")
        }
    }

    @Test("sink keys are checked by the sink factory, with lines")
    func sinkKeys() {
        let path: String
        do {
            path = try writeTemp(
                """
                [plivo]
                auth_id = "MA1"
                [[sinks]]
                name = "audit"
                type = "file"
                pth = "x.jsonl"
                """
            )
        } catch {
            Issue.record("cannot write temp file")
            return
        }
        do {
            _ = try DaemonConfiguration.load(path: path, environment: Self.env, readSink: SinkCatalog.read)
            Issue.record("expected an error")
        } catch {
            let text = error.problems.map(\.description)
            #expect(
                text.contains { $0.hasSuffix(":3: sinks[1].path: missing") },
                "a missing key points at its table: \(text)"
            )
            #expect(text.contains { $0.hasSuffix(":6: sinks[1].pth: unknown key") })
        }
    }

    @Test(
        "durations",
        arguments: [
            ("500ms", Duration.milliseconds(500)), ("30s", .seconds(30)), ("5m", .seconds(300)),
            ("6h", .seconds(21600)),
            ("1h30m", .seconds(5400)), ("1d", .seconds(86400)), ("1.5s", .milliseconds(1500)),
        ]
    )
    func durations(text: String, expected: Duration) {
        #expect(DurationParser.parse(text) == expected)
    }

    @Test("durations print back in config form")
    func formatting() {
        #expect(DaemonConfiguration.formatDuration(.seconds(86400)) == "1d")
        #expect(DaemonConfiguration.formatDuration(.seconds(5400)) == "1h30m")
        #expect(DaemonConfiguration.formatDuration(.milliseconds(1500)) == "1500ms")
        #expect(DaemonConfiguration.formatDuration(.seconds(30)) == "30s")
    }

    @Test("bad durations", arguments: ["", "30", "s", "5 minutes", "-1s", "1x"])
    func badDurations(text: String) {
        #expect(DurationParser.parse(text) == nil)
    }

    @Test("filters match case-insensitively; empty lists match everything")
    func filters() {
        let f = EventFilter(types: [.statusChanged], to: ["accepted", "rejected"])
        #expect(f.matches(type: .statusChanged, from: "submitted", to: "Accepted"))
        #expect(!f.matches(type: .statusChanged, from: "draft", to: "submitted"))
        #expect(!f.matches(type: .created, from: nil, to: "accepted"))
        #expect(EventType.allCases.allSatisfy { EventFilter().matches(type: $0, from: nil, to: "x") })
    }
}

func writeTemp(_ text: String) throws -> String {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("cw-\(UUID().uuidString).toml").path
    try text.write(toFile: path, atomically: true, encoding: .utf8)
    return path
}
