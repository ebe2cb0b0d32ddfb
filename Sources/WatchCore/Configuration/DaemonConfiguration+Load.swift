import Foundation
import PlivoCompliance
internal import TOMLKit

extension DaemonConfiguration {
    /// Reads and validates a configuration file.
    ///
    /// - Parameters:
    ///   - path: The TOML file.
    ///   - environment: Supplies `PLIVO_AUTH_ID`, `PLIVO_AUTH_TOKEN` and `CREDENTIALS_DIRECTORY`.
    ///   - secrets: `false` for commands that only read the state database (`status`,
    ///     `deliveries`, `audit verify`): the token is then not needed, and left empty.
    /// - Throws: ``ConfigurationError`` listing every problem, each with file, line and key.
    /// - Parameter checkSinks: Validates the sinks' type-specific keys in the same pass, so every
    ///   problem of every section is reported at once (the sink factory lives in `WatchSinks`).
    public static func load(
        path: String, environment: [String: String] = ProcessInfo.processInfo.environment, secrets: Bool = true,
        checkSinks: ([SinkConfiguration]) -> [ConfigurationError.Problem] = { _ in [] }
    ) throws(ConfigurationError) -> DaemonConfiguration {
        let text: String
        do {
            text = try TextFile.contents(of: path)
        } catch {
            throw ConfigurationError(problems: [.init(
                location: .init(file: path, line: nil, key: ""), message: "cannot read the file: \(error.reason)")])
        }
        return try parse(text: text, path: path, environment: environment, secrets: secrets, checkSinks: checkSinks)
    }

    /// Validates configuration text; `path` names it in messages and anchors relative paths.
    public static func parse(
        text: String, path: String, environment: [String: String] = [:], secrets: Bool = true,
        checkSinks: ([SinkConfiguration]) -> [ConfigurationError.Problem] = { _ in [] }
    ) throws(ConfigurationError) -> DaemonConfiguration {
        let root: [String: TOMLNode]
        do {
            let table = try TOMLTable(string: text)
            guard case .table(let values) = TOMLNode.from(table) else { throw ConfigurationError(problems: []) }
            root = values
        } catch let error as TOMLParseError {
            throw ConfigurationError(problems: [.init(
                location: .init(file: path, line: error.source.begin.line, key: ""),
                message: "TOML syntax error: \(error.description)")])
        } catch {
            throw ConfigurationError(problems: [.init(location: .init(file: path, line: nil, key: ""), message: "\(error)")])
        }

        let context = ReaderContext(file: path, locator: LineLocator(text: text))
        let top = TableReader(path: "", values: root, context: context)
        let empty = { (name: String) in TableReader(path: name, values: [:], context: context) }

        // [plivo]
        let p = top.table("plivo") ?? empty("plivo")
        var authId = p.string("auth_id") ?? environment["PLIVO_AUTH_ID"] ?? ""
        authId = authId.trimmingCharacters(in: .whitespaces)
        if authId.isEmpty {
            p.problem("auth_id", "missing: set plivo.auth_id or the PLIVO_AUTH_ID environment variable")
        } else if !(authId.hasPrefix("MA") || authId.hasPrefix("SA")) {
            p.problem("auth_id", "'\(authId)' is not a Plivo auth id (it starts with MA or SA)")
        }
        var token: SecretReader.Secret?
        if secrets {
            token = SecretReader(environment: environment).read(
                fileKey: "auth_token_file", in: p, credential: "plivo-auth-token", environmentVariable: "PLIVO_AUTH_TOKEN",
                what: "the Plivo auth token")
        } else {
            _ = p.string("auth_token_file")  // still a known key; just not read
        }
        let baseURL = p.string("base_url") ?? "https://api.plivo.com"
        if let problem = Self.checkHTTPURL(baseURL) { p.problem("base_url", problem) }
        let plivo = Plivo(
            authId: authId, authToken: token?.value ?? "", authTokenSource: token?.source ?? "",
            baseURL: baseURL,
            maxRequestsPerSecond: p.double("max_requests_per_second", 10, in: 0.1...1000),
            concurrency: p.int("concurrency", 4, in: 1...32),
            timeout: p.duration("timeout", .seconds(30), minimum: .milliseconds(100)),
            connectTimeout: p.duration("connect_timeout", .seconds(10), minimum: .milliseconds(100)),
            maxAttempts: p.int("max_attempts", 5, in: 1...100),
            backoffMax: p.duration("backoff_max", .seconds(60), minimum: .milliseconds(10)))
        p.rejectUnknownKeys()

        // [poll]
        let q = top.table("poll") ?? empty("poll")
        let poll = Poll(
            interval: q.duration("interval", .seconds(30), minimum: .milliseconds(50)),
            settledInterval: q.duration("settled_interval", .seconds(6 * 3600), minimum: .milliseconds(50)),
            jitter: q.double("jitter", 0.1, in: 0...0.5),
            announceExisting: q.bool("announce_existing", false))
        q.rejectUnknownKeys()

        // [state]
        let s = top.table("state") ?? empty("state")
        let statePath = Self.resolve(s.string("path") ?? "/var/lib/compliance-watch/state.db", relativeTo: path)
        s.rejectUnknownKeys()

        // [delivery]
        let d = top.table("delivery") ?? empty("delivery")
        let delivery = Delivery(
            maxAttempts: d.optionalInt("max_attempts", in: 1...1_000_000),
            maxAge: d.duration("max_age", .seconds(72 * 3600), minimum: .seconds(1)),
            backoffBase: d.duration("backoff_base", .seconds(1), minimum: .milliseconds(1)),
            backoffMax: d.duration("backoff_max", .seconds(3600), minimum: .milliseconds(1)),
            concurrency: d.int("concurrency", 8, in: 1...256),
            shutdownTimeout: d.duration("shutdown_timeout", .seconds(10)))
        d.rejectUnknownKeys()

        // [log]
        let l = top.table("log") ?? empty("log")
        let level = l.string("level") ?? "info"
        if !["trace", "debug", "info", "notice", "warning", "error", "critical"].contains(level) {
            l.problem("level", "'\(level)' is not one of trace, debug, info, notice, warning, error, critical")
        }
        l.rejectUnknownKeys()

        // [[sinks]]
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
                    let t = TableReader(path: "sinks[\(index)]", values: values, context: context)
                    let name = (t.string("name") ?? "").trimmingCharacters(in: .whitespaces)
                    if name.isEmpty {
                        t.problem("name", "missing: every sink needs a name")
                    } else if !names.insert(name).inserted {
                        t.problem("name", "duplicate sink name '\(name)'")
                    }
                    let type = t.string("type") ?? ""
                    if !["file", "webhook", "mail"].contains(type) {
                        t.problem("type", type.isEmpty ? "missing: file, webhook or mail" : "'\(type)' is not file, webhook or mail")
                    }
                    var filter = EventFilter()
                    if let f = t.table("filter") {
                        var types: [EventType] = []
                        for name in f.strings("types") {
                            if let type = EventType(rawValue: name) {
                                types.append(type)
                            } else {
                                f.problem("types", "'\(name)' is not an event type (\(EventType.allCases.map(\.rawValue).joined(separator: ", ")))")
                            }
                        }
                        let from = f.strings("from").map { ApplicationStatus($0) }
                        let to = f.strings("to").map { ApplicationStatus($0) }
                        filter = EventFilter(types: types, from: from, to: to)
                        f.rejectUnknownKeys()
                    }
                    var settings: [String: SinkSettings.SettingValue] = [:]
                    for (key, value) in values where !["name", "type", "filter"].contains(key) {
                        _ = t.raw(key)
                        switch value {
                        case .string(let v): settings[key] = .string(v)
                        case .int(let v): settings[key] = .int(v)
                        case .double(let v): settings[key] = .double(v)
                        case .bool(let v): settings[key] = .bool(v)
                        case .array(let items):
                            let strings = items.compactMap { if case .string(let s) = $0 { s } else { nil } }
                            if strings.count == items.count { settings[key] = .strings(strings) }
                            else { t.problem(key, "expected an array of strings") }
                        case .table(let table):
                            let strings = table.compactMapValues { if case .string(let s) = $0 { s } else { nil } }
                            if strings.count == table.count { settings[key] = .table(strings) }
                            else { t.problem(key, "expected a table of strings") }
                        case .other(let kind):
                            t.problem(key, "unsupported value (\(kind))")
                        }
                    }
                    t.rejectUnknownKeys()
                    let file = path, locator = context.locator, prefix = "sinks[\(index)]"
                    sinks.append(SinkConfiguration(
                        name: name, type: type, filter: filter,
                        settings: SinkSettings(values: settings) { key in
                            .init(file: file, line: locator.line("\(prefix).\(key)"), key: "\(prefix).\(key)")
                        },
                        index: index))
                }
            } else {
                context.problem("sinks", "expected [[sinks]] tables, found \(node.typeName)")
            }
        }
        top.rejectUnknownKeys()

        let problems = context.problems + checkSinks(sinks)
        guard problems.isEmpty else { throw ConfigurationError(problems: problems) }
        return DaemonConfiguration(
            plivo: plivo, poll: poll, state: State(path: statePath), delivery: delivery, log: Log(level: level),
            sinks: sinks, sourcePath: path)
    }

    /// `nil` when `text` is an absolute http(s) URL with a host; otherwise why not.
    public static func checkHTTPURL(_ text: String) -> String? {
        guard let url = URLComponents(string: text), let scheme = url.scheme?.lowercased(),
              let host = url.host, !host.isEmpty else {
            return "not an absolute http(s) URL"
        }
        guard scheme == "https" || scheme == "http" else { return "must use https (or http), not \(scheme)" }
        if url.user != nil || url.password != nil { return "credentials do not belong in the URL" }
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

/// Resolves secrets in the documented order: the `*_file` key, then the systemd credential,
/// then an environment variable. Values are trimmed of a trailing newline.
public struct SecretReader: Sendable {
    public var environment: [String: String]

    public init(environment: [String: String]) {
        self.environment = environment
    }

    /// A secret and where it came from (never the value itself).
    public struct Secret: Sendable {
        public var value: String
        public var source: String
    }

    func read(fileKey: String, in table: TableReader, credential: String?, environmentVariable: String?, what: String, required: Bool = true) -> Secret? {
        let file = table.string(fileKey).map { DaemonConfiguration.resolve($0, relativeTo: table.context.file) }
        switch read(file: file, credential: credential, environmentVariable: environmentVariable) {
        case .success(let secret?):
            return secret
        case .success(nil):
            if required {
                let options = [file.map { "\(table.keyPath(fileKey)) (\($0))" } ?? table.keyPath(fileKey),
                               credential.map { "$CREDENTIALS_DIRECTORY/\($0)" }, environmentVariable.map { "$\($0)" }]
                var message = "missing \(what): set one of \(options.compactMap { $0 }.joined(separator: ", "))"
                // Under systemd the usual cause is a credential the unit did not pass: say which.
                if let credential, file == nil {
                    if let directory = environment["CREDENTIALS_DIRECTORY"] {
                        message += "; the credential \(credential) is not in $CREDENTIALS_DIRECTORY (\(directory)): check"
                            + " LoadCredentialEncrypted=\(credential) (or LoadCredential=\(credential):…) in the unit"
                    } else if environment["INVOCATION_ID"] != nil {
                        message += "; systemd passed no credentials: check LoadCredentialEncrypted=\(credential)"
                            + " (or LoadCredential=\(credential):…) in the unit"
                    }
                }
                table.problem(fileKey, message)
            }
            return nil
        case .failure(let message):
            table.problem(fileKey, message.message)
            return nil
        }
    }

    /// Reads a secret; `.success(nil)` when no source has it, `.failure` when a named file is unusable.
    public func read(file: String?, credential: String?, environmentVariable: String?) -> Result<Secret?, SecretError> {
        if let file {
            do {
                let value = try TextFile.contents(of: file).trimmingCharacters(in: .newlines)
                guard !value.isEmpty else { return .failure(SecretError(message: "\(file) is empty")) }
                return .success(Secret(value: value, source: file))
            } catch {
                return .failure(SecretError(message: "cannot read \(file): \(error.reason)"))
            }
        }
        if let credential, let directory = environment["CREDENTIALS_DIRECTORY"] {
            let path = directory + "/" + credential
            if let value = try? TextFile.contents(of: path).trimmingCharacters(in: .newlines), !value.isEmpty {
                return .success(Secret(value: value, source: "credential \(credential)"))
            }
        }
        if let environmentVariable, let value = environment[environmentVariable], !value.isEmpty {
            return .success(Secret(value: value, source: "$\(environmentVariable)"))
        }
        return .success(nil)
    }

    public struct SecretError: Error, Sendable {
        public var message: String
    }
}
