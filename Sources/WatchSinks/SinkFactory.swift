import CurlHTTP
import Foundation
import WatchCore

/// Builds the configured sinks, checking each one's type-specific keys.
public enum SinkFactory {
    /// - Parameter store: Lets file sinks record their chain head; `nil` when only validating.
    /// - Throws: ``ConfigurationError`` naming the file, line and key of every problem.
    public static func make(
        _ configurations: [SinkConfiguration], configurationFile: String, environment: [String: String],
        store: StateStore? = nil
    ) throws(ConfigurationError) -> [any Sink] {
        var problems: [ConfigurationError.Problem] = []
        var sinks: [any Sink] = []
        for configuration in configurations {
            let reader = SettingsReader(settings: configuration.settings, file: configurationFile, environment: environment)
            let sink: (any Sink)? = switch configuration.type {
            case "file": file(configuration.name, reader, store: store)
            case "webhook": webhook(configuration.name, reader)
            case "mail": mail(configuration.name, reader)
            default: nil  // already reported by the configuration loader
            }
            reader.rejectUnknown()
            problems += reader.problems
            if let sink, reader.problems.isEmpty { sinks.append(sink) }
        }
        guard problems.isEmpty else { throw ConfigurationError(problems: problems) }
        return sinks
    }

    static func file(_ name: String, _ r: SettingsReader, store: StateStore?) -> (any Sink)? {
        guard let path = r.path("path", required: true) else { return nil }
        return FileSink(name: name, configuration: .init(path: path), store: store)
    }

    static func webhook(_ name: String, _ r: SettingsReader) -> (any Sink)? {
        // The URL may be a bearer secret (Slack, Mattermost, Teams, Discord): it can come from a
        // file or a systemd credential instead of the configuration file.
        let inline = r.string("url")
        let file = r.path("url_file")
        let credential = r.string("url_credential")
        var url: String?
        var urlKey = "url"
        switch (inline, file, credential) {
        case (let inline?, nil, nil): url = inline
        case (nil, let file?, nil):
            urlKey = "url_file"
            url = r.readSecret(file: file, key: "url_file")
        case (nil, nil, let credential?):
            urlKey = "url_credential"
            url = r.readCredential(credential, key: "url_credential")
        case (nil, nil, nil): r.problem("url", "missing: set url, url_file or url_credential")
        default: r.problem("url", "set only one of url, url_file and url_credential")
        }
        if let text = url, let problem = DaemonConfiguration.checkHTTPURL(text) {
            r.problem(urlKey, problem)
            url = nil
        }
        let formatName = r.string("format") ?? "json"
        let format = ChatFormat(rawValue: formatName)
        if format == nil { r.problem("format", "'\(formatName)' is not one of \(ChatFormat.allCases.map(\.rawValue).joined(separator: ", "))") }
        var secrets: [String] = []
        for file in r.strings("secret_files").map({ r.resolve($0) }) {
            if let value = r.readSecret(file: file, key: "secret_files") { secrets.append(value) }
        }
        for credential in r.strings("secret_credentials") {
            if let value = r.readCredential(credential, key: "secret_credentials") { secrets.append(value) }
        }
        let headers = r.table("headers").sorted { $0.key < $1.key }
        for (header, _) in headers where header.contains(where: { $0 == ":" || $0 == "\r" || $0 == "\n" || $0 == " " }) {
            r.problem("headers", "'\(header)' is not a valid header name")
        }
        let timeout = r.duration("timeout") ?? .seconds(10)
        var template: String?
        if let path = r.path("template") {
            do {
                template = try String(contentsOfFile: path, encoding: .utf8)
            } catch {
                r.problem("template", "cannot read \(path)")
            }
        }
        let contentType = r.string("content_type") ?? "application/json"
        guard let url, let format, r.problems.isEmpty else { return nil }
        do {
            return try WebhookSink(name: name, configuration: .init(
                url: url, format: format, secrets: secrets, headers: headers.map { ($0.key, $0.value) }, timeout: timeout,
                template: template, contentType: contentType))
        } catch {
            r.problem(error.key == "secret" ? "secret_files" : error.key, error.message)
            return nil
        }
    }

    static func mail(_ name: String, _ r: SettingsReader) -> (any Sink)? {
        let from = r.string("from", required: true)
        let to = r.strings("to")
        if to.isEmpty { r.problem("to", "missing: at least one recipient") }
        for address in [from].compactMap({ $0 }) + to where !address.contains("@") || address.contains(where: { $0.isNewline || $0 == "<" || $0 == ">" }) {
            r.problem(address == from ? "from" : "to", "'\(address)' is not a plain email address")
        }
        let prefix = r.string("subject_prefix") ?? "[compliance]"
        let timeout = r.duration("timeout") ?? .seconds(30)
        let transportName = r.string("transport") ?? "command"
        var transport: MailSink.Transport?
        switch transportName {
        case "command":
            let argv = r.strings("command")
            let command = argv.isEmpty ? ["/usr/sbin/sendmail", "-t", "-oi"] : argv
            if !command[0].hasPrefix("/") { r.problem("command", "the program must be an absolute path, got '\(command[0])'") }
            transport = .command(argv: command, timeout: timeout)
        case "smtp":
            let url = r.string("url", required: true) ?? ""
            let components = URLComponents(string: url)
            let scheme = components?.scheme?.lowercased()
            let host = components?.host ?? ""
            if !url.isEmpty, scheme != "smtp" && scheme != "smtps" || host.isEmpty {
                r.problem("url", "\(HTTPTransportError.redact(url)) is not an smtp:// or smtps:// URL")
            }
            let starttls = r.string("starttls") ?? "required"
            let loopback = ["127.0.0.1", "localhost", "::1", "[::1]"].contains(host.lowercased())
            switch starttls {
            case "required": break
            case "none" where loopback: break
            case "none": r.problem("starttls", "\"none\" is allowed only for a loopback relay (127.0.0.1, ::1, localhost), not \(host)")
            default: r.problem("starttls", "must be \"required\" or \"none\"")
            }
            var credentials: BasicCredentials?
            if let username = r.string("username") {
                var password: String?
                if let file = r.path("password_file") { password = r.readSecret(file: file, key: "password_file") }
                else if let credential = r.string("password_credential") { password = r.readCredential(credential, key: "password_credential") }
                else { r.problem("password_file", "username is set but neither password_file nor password_credential is") }
                if let password { credentials = BasicCredentials(username: username, password: password) }
            }
            transport = .smtp(.init(url: url, credentials: credentials, allowPlaintext: starttls == "none", timeout: timeout))
        default:
            r.problem("transport", "'\(transportName)' is not command or smtp")
        }
        guard let from, !to.isEmpty, let transport, r.problems.isEmpty else { return nil }
        return MailSink(name: name, configuration: .init(message: MailMessage(from: from, to: to, subjectPrefix: prefix), transport: transport))
    }
}

/// Reads a sink's settings and remembers what it used, so leftovers are reported as unknown.
final class SettingsReader {
    let settings: SinkSettings
    let file: String
    let environment: [String: String]
    private(set) var used: Set<String> = []
    private(set) var problems: [ConfigurationError.Problem] = []

    init(settings: SinkSettings, file: String, environment: [String: String]) {
        self.settings = settings
        self.file = file
        self.environment = environment
    }

    func problem(_ key: String, _ message: String) {
        problems.append(.init(location: settings.location(key), message: message))
    }

    func string(_ key: String, required: Bool = false) -> String? {
        used.insert(key)
        switch settings.values[key] {
        case .string(let value)? where !value.isEmpty: return value
        case nil, .string?:
            if required { problem(key, "missing") }
            return nil
        case let other?:
            problem(key, "expected a string, found \(Self.describe(other))")
            return nil
        }
    }

    /// A list of strings; a single string is accepted as a list of one.
    func strings(_ key: String) -> [String] {
        used.insert(key)
        switch settings.values[key] {
        case .strings(let values)?: return values
        case .string(let value)?: return [value]
        case nil: return []
        case let other?:
            problem(key, "expected an array of strings, found \(Self.describe(other))")
            return []
        }
    }

    func table(_ key: String) -> [String: String] {
        used.insert(key)
        switch settings.values[key] {
        case .table(let values)?: return values
        case nil: return [:]
        case let other?:
            problem(key, "expected a table of strings, found \(Self.describe(other))")
            return [:]
        }
    }

    func duration(_ key: String) -> Duration? {
        guard let text = string(key) else { return nil }
        guard let value = DaemonConfiguration.parseDuration(text), value > .zero else {
            problem(key, "'\(text)' is not a duration; use forms like 500ms, 30s or 5m")
            return nil
        }
        return value
    }

    func path(_ key: String, required: Bool = false) -> String? {
        string(key, required: required).map(resolve)
    }

    func resolve(_ path: String) -> String {
        path.hasPrefix("/") ? path : URL(fileURLWithPath: file).deletingLastPathComponent().appendingPathComponent(path).standardized.path
    }

    func readSecret(file: String, key: String) -> String? {
        switch SecretReader(environment: environment).read(file: file, credential: nil, environmentVariable: nil) {
        case .success(let secret?): return secret.value
        case .success(nil): problem(key, "\(file) is empty")
        case .failure(let error): problem(key, error.message)
        }
        return nil
    }

    func readCredential(_ name: String, key: String) -> String? {
        guard environment["CREDENTIALS_DIRECTORY"] != nil else {
            problem(key, "credential '\(name)' needs $CREDENTIALS_DIRECTORY (systemd LoadCredential=)")
            return nil
        }
        switch SecretReader(environment: environment).read(file: nil, credential: name, environmentVariable: nil) {
        case .success(let secret?): return secret.value
        default:
            problem(key, "credential '\(name)' is missing or empty in $CREDENTIALS_DIRECTORY")
            return nil
        }
    }

    func rejectUnknown() {
        for key in settings.values.keys.sorted() where !used.contains(key) {
            problem(key, "unknown key")
        }
    }

    static func describe(_ value: SinkSettings.SettingValue) -> String {
        switch value {
        case .string: "a string"
        case .int: "an integer"
        case .double: "a number"
        case .bool: "a boolean"
        case .strings: "an array"
        case .table: "a table"
        }
    }
}
