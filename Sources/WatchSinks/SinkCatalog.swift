import CurlHTTP
import Foundation
import WatchCore

/// The sink types: how each reads its `[[sinks]]` keys, and how a validated configuration
/// becomes a sink. Reading never builds anything; building happens once per configuration.
public enum SinkCatalog {
    /// Reads `kind`'s keys through `reader`; pass it to ``DaemonConfiguration/load(path:environment:secrets:readSink:)``.
    /// Every problem is reported through the reader; `nil` when the settings are unusable.
    public static func read(_ kind: SinkKind, _ reader: ConfigReader) -> (any SinkSettings)? {
        switch kind {
        case .file: FileSink.Configuration(reading: reader)
        case .webhook: WebhookSink.Configuration(reading: reader)
        case .mail: MailSink.Configuration(reading: reader)
        }
    }

    /// What every sink of one daemon shares.
    public struct Resources: Sendable {
        /// Lets file sinks record their chain head; `nil` for tools that only send (`test-sink`).
        public var store: StateStore?
        /// The one libcurl transfer thread for every HTTP and SMTP sink.
        public var transport: CurlTransport
        /// How file sinks seal their lines; `nil`: unsealed.
        public var sealing: AuditSeal.Settings?
        /// With several instances on one store: this host's name. File sinks then continue the
        /// chain the store holds, whoever wrote its last line, in this host's own file.
        public var host: String?

        /// Creates the shared resources.
        public init(
            store: StateStore?,
            transport: CurlTransport,
            sealing: AuditSeal.Settings? = nil,
            host: String? = nil
        ) {
            self.host = host
            self.store = store
            self.transport = transport
            self.sealing = sealing
        }
    }

    /// Builds the sink for a configuration loaded with ``read(_:_:)``; `nil` when it was loaded
    /// without sink settings.
    public static func make(_ sink: SinkConfiguration, resources: Resources) -> (any Sink)? {
        switch sink.settings {
        case let file as FileSink.Configuration:
            FileSink(
                name: sink.name,
                configuration: file,
                store: resources.store,
                sealing: resources.sealing,
                host: resources.host
            )
        case let webhook as WebhookSink.Configuration:
            WebhookSink(name: sink.name, configuration: webhook, transport: resources.transport)
        case let mail as MailSink.Configuration:
            MailSink(name: sink.name, configuration: mail, transport: resources.transport)
        default:
            nil
        }
    }

    /// How many transfers the sinks may run at once through the shared transport, so that
    /// together with the poller's they never queue behind each other.
    public static func transferSlots(_ sinks: [SinkConfiguration], deliveryConcurrency: Int) -> Int {
        sinks.reduce(0) { total, sink in
            switch sink.kind {
            case .webhook: total + deliveryConcurrency
            case .mail: total + 2
            case .file: total
            }
        }
    }
}

extension FileSink.Configuration: SinkSettings {
    init?(reading r: ConfigReader) {
        guard let path = r.path("path", required: true) else { return nil }
        self.init(path: path)
    }

    /// The path.
    public var description: String { "FileSink.Configuration(path: \(path))" }
}

extension WebhookSink.Configuration: SinkSettings {
    init?(reading r: ConfigReader) {
        // The URL may be a bearer secret (Slack, Mattermost, Teams, Discord): it can come from a
        // file or a systemd credential instead of the configuration file.
        let inline = r.string("url")
        let file = r.path("url_file")
        let credential = r.string("url_credential")
        var url: String?
        var source = WebhookSink.URLSource.inline
        switch (inline, file, credential) {
        case (let inline?, nil, nil): url = inline
        case (nil, let file?, nil):
            source = .file
            url = r.secret(fileAt: file, key: "url_file")
        case (nil, nil, let credential?):
            source = .credential
            url = r.credential(credential, key: "url_credential")
        case (nil, nil, nil): r.problem("url", "missing: set url, url_file or url_credential")
        default: r.problem("url", "set only one of url, url_file and url_credential")
        }
        if let text = url, let problem = DaemonConfiguration.checkHTTPURL(text) {
            r.problem(source.rawValue, problem)
            url = nil
        }
        let format = r.choice("format", ChatFormat.json)
        var secrets: [String] = []
        for file in r.strings("secret_files").map(r.resolve) {
            if let value = r.secret(fileAt: file, key: "secret_files") { secrets.append(value) }
        }
        for credential in r.strings("secret_credentials") {
            if let value = r.credential(credential, key: "secret_credentials") { secrets.append(value) }
        }
        let headers = r.stringTable("headers")
        for (header, _) in headers where header.contains(where: { $0 == ":" || $0 == "\r" || $0 == "\n" || $0 == " " })
        {
            r.problem("headers", "'\(header)' is not a valid header name")
        }
        let timeout = r.duration("timeout", .seconds(10), minimum: .milliseconds(1))
        var template: String?
        if let path = r.path("template") {
            do {
                template = try String(contentsOfFile: path, encoding: .utf8)
            } catch {
                r.problem("template", "cannot read \(path)")
            }
        }
        let contentType = r.string("content_type") ?? "application/json"
        guard let url else { return nil }
        do {
            try self.init(
                url: url,
                format: format,
                secrets: secrets,
                headers: headers,
                timeout: timeout,
                template: template,
                contentType: contentType
            )
        } catch {
            r.problem(error.key == "secret" ? "secret_files" : error.key, error.message)
            return nil
        }
        urlSource = source
    }
}

extension MailSink.Configuration: SinkSettings {
    init?(reading r: ConfigReader) {
        let from = r.requiredString("from")
        let to = r.strings("to")
        if to.isEmpty { r.problem("to", "missing: at least one recipient") }
        for address in [from].compactMap({ $0 }) + to
        where !address.contains("@") || address.contains(where: { $0.isNewline || $0 == "<" || $0 == ">" }) {
            r.problem(address == from ? "from" : "to", "'\(address)' is not a plain email address")
        }
        let prefix = r.string("subject_prefix") ?? MailMessage(from: "", to: []).subjectPrefix
        let timeout = r.duration("timeout", .seconds(30), minimum: .milliseconds(1))
        var transport: MailSink.Transport?
        switch r.choice("transport", MailSink.TransportKind.command) {
        case .command:
            let argv = r.strings("command")
            let command = argv.isEmpty ? MailSink.defaultCommand : argv
            if !command[0].hasPrefix("/") {
                r.problem("command", "the program must be an absolute path, got '\(command[0])'")
            }
            transport = .command(argv: command, timeout: timeout)
        case .smtp:
            let url = r.requiredString("url") ?? ""
            let components = URLComponents(string: url)
            let scheme = components?.scheme?.lowercased()
            let host = components?.host ?? ""
            if !url.isEmpty, scheme != "smtp" && scheme != "smtps" || host.isEmpty {
                r.problem("url", "\(HTTPTransportError.redact(url)) is not an smtp:// or smtps:// URL")
            }
            let starttls = r.choice("starttls", MailSink.StartTLS.required)
            let loopback = ["127.0.0.1", "localhost", "::1", "[::1]"].contains(host.lowercased())
            if starttls == .none, !loopback {
                r.problem(
                    "starttls",
                    "\"none\" is allowed only for a loopback relay (127.0.0.1, ::1, localhost), not \(host)"
                )
            }
            var credentials: BasicCredentials?
            if let username = r.string("username") {
                var password: String?
                if let file = r.path("password_file") {
                    password = r.secret(fileAt: file, key: "password_file")
                } else if let credential = r.string("password_credential") {
                    password = r.credential(credential, key: "password_credential")
                } else {
                    r.problem("password_file", "username is set but neither password_file nor password_credential is")
                }
                if let password { credentials = BasicCredentials(username: username, password: password) }
            }
            transport = .smtp(
                .init(url: url, credentials: credentials, allowPlaintext: starttls == .none, timeout: timeout)
            )
        }
        guard let from, !to.isEmpty, let transport else { return nil }
        self.init(message: MailMessage(from: from, to: to, subjectPrefix: prefix), transport: transport)
    }

    /// Addresses and the transport; never a password.
    public var description: String {
        let via =
            switch transport {
            case .command(let argv, _): "command \(argv.first ?? "")"
            case .smtp(let smtp): "smtp \(HTTPTransportError.redact(smtp.url))"
            }
        return "MailSink.Configuration(from: \(message.from), to: \(message.to), via: \(via))"
    }
}
