import Foundation
import PlivoCompliance
import Logging
internal import TOMLKit

// Each configuration type reads itself; its defaults are its initialiser's.

extension DaemonConfiguration.Plivo {
    /// How a table describes accounts.
    enum Role {
        /// `[plivo]` alone: the one account, with `PLIVO_AUTH_ID` and `PLIVO_AUTH_TOKEN` as fallbacks.
        case single
        /// `[plivo]` beside `[[accounts]]`: settings every account inherits, no credentials.
        case shared
        /// One `[[accounts]]` table over the shared settings.
        case account(DaemonConfiguration.Plivo)
    }

    init(reading p: ConfigReader, secrets: Bool, role: Role) {
        var defaults = Self(authId: "", authToken: "")
        var name: String?
        var authId = ""
        var token: SecretReader.Secret?
        switch role {
        case .shared:
            for key in ["auth_id", "auth_token_file"] where p.raw(key) != nil {
                p.problem(key, "belongs in each [[accounts]] table when there are several accounts")
            }
        case .single:
            authId = (p.string("auth_id") ?? p.environment["PLIVO_AUTH_ID"] ?? "").trimmingCharacters(in: .whitespaces)
            if secrets {
                token = SecretReader(environment: p.environment).read(
                    fileKey: "auth_token_file",
                    in: p,
                    credential: "plivo-auth-token",
                    environmentVariable: "PLIVO_AUTH_TOKEN",
                    what: "the Plivo auth token"
                )
            } else {
                _ = p.string("auth_token_file")  // still a known key; just not read
            }
        case .account(let shared):
            defaults = shared
            let accountName = (p.string("name") ?? "").trimmingCharacters(in: .whitespaces)
            name = accountName
            // It names a credential: plivo-auth-token-NAME.
            let credentialSafe = accountName.allSatisfy {
                $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_")
            }
            if accountName.isEmpty {
                p.problem("name", "missing: every account needs a name")
            } else if !credentialSafe {
                p.problem("name", "'\(accountName)' may hold only letters, digits, '-' and '_' (it names a credential)")
            }
            authId = (p.string("auth_id") ?? "").trimmingCharacters(in: .whitespaces)
            if secrets {
                token = SecretReader(environment: p.environment).read(
                    fileKey: "auth_token_file",
                    in: p,
                    credential: "plivo-auth-token-\(accountName)",
                    environmentVariable: nil,
                    what: "the auth token of account \(accountName)"
                )
            } else {
                _ = p.string("auth_token_file")
            }
        }
        if case .shared = role {
        } else if authId.isEmpty {
            p.problem(
                "auth_id",
                role.isSingle ? "missing: set plivo.auth_id or the PLIVO_AUTH_ID environment variable" : "missing"
            )
        } else if !(authId.hasPrefix("MA") || authId.hasPrefix("SA")) {
            p.problem("auth_id", "'\(authId)' is not a Plivo auth id (it starts with MA or SA)")
        }
        let baseURL = p.string("base_url") ?? defaults.baseURL
        if let problem = DaemonConfiguration.checkHTTPURL(baseURL) { p.problem("base_url", problem) }
        self.init(
            authId: authId,
            authToken: token?.value ?? "",
            authTokenSource: token?.source ?? "",
            baseURL: baseURL,
            maxRequestsPerSecond: p.double("max_requests_per_second", defaults.maxRequestsPerSecond, in: 0.1...1000),
            concurrency: p.int("concurrency", defaults.concurrency, in: 1...32),
            timeout: p.duration("timeout", defaults.timeout, minimum: .milliseconds(100)),
            connectTimeout: p.duration("connect_timeout", defaults.connectTimeout, minimum: .milliseconds(100)),
            maxAttempts: p.int("max_attempts", defaults.maxAttempts, in: 1...100),
            backoffMax: p.duration("backoff_max", defaults.backoffMax, minimum: .milliseconds(10)),
            name: name
        )
        p.rejectUnknownKeys()
    }
}

extension DaemonConfiguration.Plivo.Role {
    var isSingle: Bool {
        if case .single = self { return true }
        return false
    }
}

extension DaemonConfiguration {
    /// `[[accounts]]` when present (over `[plivo]`'s shared settings), else `[plivo]` as the one account.
    static func readAccounts(top: ConfigReader, plivo: ConfigReader, secrets: Bool) -> [Plivo] {
        guard let node = top.raw("accounts") else {
            return [Plivo(reading: plivo, secrets: secrets, role: .single)]
        }
        let shared = Plivo(reading: plivo, secrets: secrets, role: .shared)
        guard case .array(let items) = node, !items.isEmpty else {
            top.problem("accounts", "expected one or more [[accounts]] tables")
            return [shared]
        }
        var accounts: [Plivo] = []
        var names: Set<String> = [], ids: Set<String> = []
        for (offset, item) in items.enumerated() {
            let path = "accounts[\(offset + 1)]"
            guard case .table(let values) = item else {
                top.context.problem(path, "expected a table, found \(item.typeName)")
                continue
            }
            let reader = ConfigReader(path: path, values: values, context: top.context)
            let account = Plivo(reading: reader, secrets: secrets, role: .account(shared))
            if !account.name.isEmpty, !names.insert(account.name).inserted {
                reader.problem("name", "duplicate account name '\(account.name)'")
            }
            // One store row per application id per account: two tables on one account would race.
            if !account.authId.isEmpty, !ids.insert(account.authId).inserted {
                reader.problem("auth_id", "\(account.authId) is already watched by another [[accounts]] table")
            }
            accounts.append(account)
        }
        return accounts.isEmpty ? [shared] : accounts
    }

    /// Sink filters name accounts by name or auth id; events carry the auth id.
    static func resolveFilterAccounts(_ sinks: inout [SinkConfiguration], accounts: [Plivo], context: ReaderContext) {
        for index in sinks.indices where !sinks[index].filter.accounts.isEmpty {
            sinks[index].filter.accounts = sinks[index].filter.accounts.compactMap { given in
                if let account = accounts.first(where: { $0.name == given || $0.authId == given }) {
                    return account.authId
                }
                context.problem(
                    "sinks[\(sinks[index].index)].filter.accounts",
                    "'\(given)' is not a configured account (\(accounts.map(\.name).joined(separator: ", ")))"
                )
                return nil
            }
        }
    }
}

extension DaemonConfiguration.Poll {
    init(reading q: ConfigReader) {
        let defaults = Self()
        self.init(
            interval: q.duration("interval", defaults.interval, minimum: .milliseconds(50)),
            settledInterval: q.duration("settled_interval", defaults.settledInterval, minimum: .milliseconds(50)),
            jitter: q.double("jitter", defaults.jitter, in: 0...0.5),
            announceExisting: q.bool("announce_existing", defaults.announceExisting)
        )
        q.rejectUnknownKeys()
    }
}

extension DaemonConfiguration.State {
    init(reading s: ConfigReader, secrets: Bool) {
        let defaults = Self()
        let eventRetention =
            s.string("event_retention") == nil ? nil : s.duration("event_retention", .zero, minimum: .seconds(86400))
        let path = s.path("path")
        let url = s.string("url")
        var password: String?
        if let url {
            if path != nil { s.problem("url", "set only one of path (SQLite) and url (PostgreSQL)") }
            if let problem = PostgresLocation.check(url) { s.problem("url", problem) }
            let file = s.path("password_file")
            let credential = s.string("password_credential")
            if file != nil, credential != nil {
                s.problem("password_file", "set only one of password_file and password_credential")
            } else if secrets {
                password =
                    file.flatMap { s.secret(fileAt: $0, key: "password_file") }
                    ?? credential.flatMap { s.credential($0, key: "password_credential") }
            } else if case .success(let secret?) = SecretReader(environment: s.environment).read(
                file: file,
                credential: credential,
                environmentVariable: nil
            ) {
                // Commands that read the store need the password too; one they cannot read
                // fails later, at login, with the server's word for it.
                password = secret.value
            }
        } else {
            for key in ["password_file", "password_credential"] where s.raw(key) != nil {
                s.problem(key, "only used with url (PostgreSQL)")
            }
        }
        self.init(
            path: path ?? defaults.path,
            deliveryRetention: s.duration("delivery_retention", defaults.deliveryRetention, minimum: .seconds(3600)),
            eventRetention: eventRetention,
            url: url,
            password: password
        )
        s.rejectUnknownKeys()
    }
}

extension DaemonConfiguration.HA {
    init(reading h: ConfigReader) {
        self.init(lease: h.duration("lease", Self().lease, minimum: .seconds(1)))
        h.rejectUnknownKeys()
    }
}

extension DaemonConfiguration.Delivery {
    init(reading d: ConfigReader) {
        let defaults = Self()
        self.init(
            maxAttempts: d.optionalInt("max_attempts", in: 1...1_000_000) ?? defaults.maxAttempts,
            maxAge: d.duration("max_age", defaults.maxAge, minimum: .seconds(1)),
            backoffBase: d.duration("backoff_base", defaults.backoffBase, minimum: .milliseconds(1)),
            backoffMax: d.duration("backoff_max", defaults.backoffMax, minimum: .milliseconds(1)),
            concurrency: d.int("concurrency", defaults.concurrency, in: 1...256),
            shutdownTimeout: d.duration("shutdown_timeout", defaults.shutdownTimeout)
        )
        d.rejectUnknownKeys()
    }
}

extension DaemonConfiguration.Audit {
    init(reading a: ConfigReader, secrets: Bool) {
        let defaults = Self()
        let file = a.path("sealing_key_file")
        let credential = a.string("sealing_key_credential")
        var seed: Data?
        if file != nil, credential != nil {
            a.problem("sealing_key_file", "set only one of sealing_key_file and sealing_key_credential")
        } else if secrets {
            let text =
                file.flatMap { a.secret(fileAt: $0, key: "sealing_key_file") }
                ?? credential.flatMap { a.credential($0, key: "sealing_key_credential") }
            if let text {
                seed = Self.decodeSeed(text)
                if seed == nil {
                    a.problem(
                        file != nil ? "sealing_key_file" : "sealing_key_credential",
                        "not 32 bytes as 64 hex digits or base64"
                    )
                }
            }
        }
        self.init(
            seal: a.bool("seal", defaults.seal),
            sealInterval: a.duration("seal_interval", defaults.sealInterval, minimum: .seconds(60)),
            seed: seed
        )
        a.rejectUnknownKeys()
    }

    /// 64 hex digits or base64, decoding to exactly 32 bytes.
    static func decodeSeed(_ text: String) -> Data? {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        if trimmed.count == 64, trimmed.allSatisfy(\.isHexDigit) {
            var bytes: [UInt8] = []
            var index = trimmed.startIndex
            while index < trimmed.endIndex {
                let next = trimmed.index(index, offsetBy: 2)
                guard let byte = UInt8(trimmed[index..<next], radix: 16) else { return nil }
                bytes.append(byte)
                index = next
            }
            return Data(bytes)
        }
        return Data(base64Encoded: trimmed).flatMap { $0.count == 32 ? $0 : nil }
    }
}

extension DaemonConfiguration.Metrics {
    init(reading m: ConfigReader) {
        var listen: Listen?
        if let text = m.string("listen") {
            listen = Listen(parsing: text)
            if listen == nil { m.problem("listen", "'\(text)' is not ADDRESS:PORT (127.0.0.1:9464, [::1]:9464)") }
        }
        self.init(listen: listen)
        m.rejectUnknownKeys()
    }
}

extension DaemonConfiguration.Log {
    init(reading l: ConfigReader) {
        self.init(level: l.choice("level", Self().level))
        l.rejectUnknownKeys()
    }
}

extension SinkConfiguration {
    /// Reads one `[[sinks]]` table: name, type and filter here, the type's own keys through
    /// `readSink`. `nil` when the entry is unusable (reported).
    init?(
        reading t: ConfigReader,
        index: Int,
        names: inout Set<String>,
        readSink: DaemonConfiguration.SinkSettingsReader?
    ) {
        let name = (t.string("name") ?? "").trimmingCharacters(in: .whitespaces)
        if name.isEmpty {
            t.problem("name", "missing: every sink needs a name")
        } else if !names.insert(name).inserted {
            t.problem("name", "duplicate sink name '\(name)'")
        }
        let typeName = t.string("type")
        let kind = typeName.flatMap(SinkKind.init(rawValue:))
        if kind == nil {
            t.problem(
                "type",
                typeName.map { "'\($0)' is not file, webhook or mail" } ?? "missing: file, webhook or mail"
            )
        }
        var filter = EventFilter()
        if let f = t.table("filter") {
            var types: [EventType] = []
            for name in f.strings("types") {
                if let type = EventType(rawValue: name) {
                    types.append(type)
                } else {
                    f.problem(
                        "types",
                        "'\(name)' is not an event type (\(EventType.allCases.map(\.rawValue).joined(separator: ", ")))"
                    )
                }
            }
            let from = f.strings("from").map { ApplicationStatus($0) }
            let to = f.strings("to").map { ApplicationStatus($0) }
            filter = EventFilter(types: types, from: from, to: to, accounts: f.strings("accounts"))
            f.rejectUnknownKeys()
        }
        guard let kind else { return nil }
        var settings: (any SinkSettings)?
        if let readSink {
            settings = readSink(kind, t)
            t.rejectUnknownKeys()
        } else {
            // Loaded only to name the sinks: their own keys are not read, so not judged.
            for key in t.values.keys { _ = t.raw(key) }
        }
        self.init(name: name, kind: kind, filter: filter, settings: settings, index: index)
    }
}

extension DaemonConfiguration {
    /// Reads a sink type's own keys from its `[[sinks]]` table; `nil` when they are unusable
    /// (every problem is reported through the reader). `WatchSinks` provides the one the
    /// daemon uses.
    public typealias SinkSettingsReader = (SinkKind, ConfigReader) -> (any SinkSettings)?

    /// Reads and validates a configuration file.
    ///
    /// - Parameters:
    ///   - path: The TOML file.
    ///   - environment: Supplies `PLIVO_AUTH_ID`, `PLIVO_AUTH_TOKEN` and `CREDENTIALS_DIRECTORY`.
    ///   - secrets: `false` for commands that only read the state database (`status`,
    ///     `deliveries`, `audit verify`): the token is then not needed, and left empty.
    ///   - readSink: Reads each sink's type-specific keys in the same pass, so every problem of
    ///     every section is reported at once. Without it, sinks carry no settings and their
    ///     other keys are not checked.
    /// - Throws: ``ConfigurationError`` listing every problem, each with file, line and key.
    public static func load(
        path: String,
        environment: [String: String] = ProcessInfo.processInfo.environment,
        secrets: Bool = true,
        readSink: SinkSettingsReader? = nil
    ) throws(ConfigurationError) -> DaemonConfiguration {
        let text: String
        do {
            text = try TextFile.contents(of: path)
        } catch {
            throw ConfigurationError(problems: [
                .init(
                    location: .init(file: path, line: nil, key: ""),
                    message: "cannot read the file: \(error.reason)"
                )
            ])
        }
        return try parse(text: text, path: path, environment: environment, secrets: secrets, readSink: readSink)
    }

    /// Validates configuration text; `path` names it in messages and anchors relative paths.
    public static func parse(
        text: String,
        path: String,
        environment: [String: String] = [:],
        secrets: Bool = true,
        readSink: SinkSettingsReader? = nil
    ) throws(ConfigurationError) -> DaemonConfiguration {
        let root: [String: TOMLNode]
        do {
            let table = try TOMLTable(string: text)
            guard case .table(let values) = TOMLNode.from(table) else { throw ConfigurationError(problems: []) }
            root = values
        } catch let error as TOMLParseError {
            throw ConfigurationError(problems: [
                .init(
                    location: .init(file: path, line: error.source.begin.line, key: ""),
                    message: "TOML syntax error: \(error.description)"
                )
            ])
        } catch {
            throw ConfigurationError(problems: [
                .init(location: .init(file: path, line: nil, key: ""), message: "\(error)")
            ])
        }

        let context = ReaderContext(file: path, locator: LineLocator(text: text), environment: environment)
        let top = ConfigReader(path: "", values: root, context: context)
        func section(_ name: String) -> ConfigReader {
            top.table(name) ?? ConfigReader(path: name, values: [:], context: context)
        }
        let accounts = readAccounts(top: top, plivo: section("plivo"), secrets: secrets)
        let poll = Poll(reading: section("poll"))
        let state = State(reading: section("state"), secrets: secrets)
        let ha = HA(reading: section("ha"))
        let delivery = Delivery(reading: section("delivery"))
        let log = Log(reading: section("log"))
        let metrics = Metrics(reading: section("metrics"))
        let audit = Audit(reading: section("audit"), secrets: secrets)

        var sinks: [SinkConfiguration] = []
        if let node = top.raw("sinks") {
            if case .array(let items) = node {
                var names: Set<String> = []
                for (offset, item) in items.enumerated() {
                    let index = offset + 1
                    guard case .table(let values) = item else {
                        context.problem("sinks[\(index)]", "expected a table, found \(item.typeName)")
                        continue
                    }
                    let reader = ConfigReader(path: "sinks[\(index)]", values: values, context: context)
                    if let sink = SinkConfiguration(reading: reader, index: index, names: &names, readSink: readSink) {
                        sinks.append(sink)
                    }
                }
            } else {
                context.problem("sinks", "expected [[sinks]] tables, found \(node.typeName)")
            }
        }
        resolveFilterAccounts(&sinks, accounts: accounts, context: context)
        if state.url != nil, audit.seal, audit.seed == nil, secrets {
            // Each instance would generate its own seed, and lines sealed by one host would not
            // verify with another's key.
            section("audit").problem(
                "seal",
                "with [state] url every instance must seal with the same seed: set sealing_key_file or sealing_key_credential (or seal = false)"
            )
        }
        top.rejectUnknownKeys()

        guard context.problems.isEmpty else { throw ConfigurationError(problems: context.problems) }
        var configuration = DaemonConfiguration(
            accounts: accounts,
            poll: poll,
            state: state,
            delivery: delivery,
            log: log,
            metrics: metrics,
            audit: audit,
            sinks: sinks,
            sourcePath: path
        )
        configuration.ha = ha
        return configuration
    }

    /// `nil` when `text` is an absolute http(s) URL with a host; otherwise why not.
    public static func checkHTTPURL(_ text: String) -> String? {
        // By hand, not URLComponents: its host parsing loads ICU's IDNA tables (megabytes of
        // resident memory) to check a URL that libcurl parses again anyway.
        let invalid = "not an absolute http(s) URL"
        guard let separator = text.firstRange(of: "://"),
            !text.contains(where: { $0.isWhitespace || $0.asciiValue.map { $0 < 0x20 } == true })
        else {
            return invalid
        }
        let scheme = text[..<separator.lowerBound].lowercased()
        guard let first = scheme.first, first.isLetter,
            scheme.allSatisfy({ $0.isLetter || $0.isNumber || "+-.".contains($0) })
        else {
            return invalid
        }
        let authority = text[separator.upperBound...].prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        let credentials = authority.contains("@")
        let hostAndPort = authority.split(separator: "@", omittingEmptySubsequences: false).last ?? ""
        let host =
            hostAndPort.hasPrefix("[")
            ? hostAndPort.prefix { $0 != "]" }.dropFirst()
            : hostAndPort.prefix { $0 != ":" }
        guard !host.isEmpty else { return invalid }
        guard scheme == "https" || scheme == "http" else { return "must use https (or http), not \(scheme)" }
        if credentials { return "credentials do not belong in the URL" }
        return nil
    }

    /// Paths in the file are relative to the file's directory.
    static func resolve(_ path: String, relativeTo file: String) -> String {
        if path.hasPrefix("/") { return path }
        return URL(fileURLWithPath: file).deletingLastPathComponent().appendingPathComponent(path).standardized.path
    }

    static func reason(_ error: any Error) -> String {
        let ns = error as NSError
        if let underlying = ns.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain {
            return String(cString: strerror(Int32(underlying.code)))
        }
        return ns.localizedDescription
    }
}
