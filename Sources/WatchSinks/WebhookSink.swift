import CurlHTTP
import Foundation
import Mustache
import WatchCore

/// POSTs events to a URL: the canonical JSON signed as in Standard Webhooks, or a chat platform's
/// native payload, or a body rendered from a Mustache template.
///
/// A 2xx delivers. 408, 429, 5xx and network errors are retried (honouring `Retry-After`). A 410
/// disables the sink. Any other 3xx or 4xx is final: redirects are never followed.
public struct WebhookSink: Sink {
    /// `type = "webhook"` settings, checked when made: a configuration that exists has usable
    /// secrets and a template that parses.
    public struct Configuration: Sendable {
        /// `url`: http or https.
        public var url: String
        /// Where ``url`` came from: `check-config` warns about one written in a readable file.
        public var urlSource: URLSource = .inline
        /// `format`: json (default), slack, mattermost, teams or discord.
        public var format: ChatFormat
        /// How many `whsec_` secrets sign each request (several during rotation).
        public var secretCount: Int { signer?.keyCount ?? 0 }
        /// `headers`: extra request headers.
        public var headers: [(String, String)]
        /// `timeout`: per request.
        public var timeout: Duration
        /// `content_type`: the body's type.
        public var contentType: String
        /// Signs with every secret from `secret_files` / `secret_credentials`.
        let signer: StandardWebhooks?
        /// `template`: a Mustache file rendered as the body instead of `format`.
        let template: MustacheTemplate?

        /// Creates the settings.
        /// - Throws: ``WebhookSetupError`` when a secret or the template is unusable (never
        ///   showing the secret itself).
        public init(
            url: String,
            format: ChatFormat = .json,
            secrets: [String] = [],
            headers: [(String, String)] = [],
            timeout: Duration = .seconds(10),
            template: String? = nil,
            contentType: String = "application/json"
        ) throws(WebhookSetupError) {
            self.url = url
            self.format = format
            self.headers = headers
            self.timeout = timeout
            self.contentType = contentType
            do {
                signer = secrets.isEmpty ? nil : try StandardWebhooks(secrets: secrets)
            } catch {
                throw WebhookSetupError(
                    key: "secret",
                    message: "secret #\(error.index + 1) is not whsec_ followed by base64 of at least 16 bytes"
                )
            }
            if let template {
                do {
                    MustacheContentTypes.register(JSONEscaping(), named: "JSON")
                    let escaping = contentType.contains("json") ? "JSON" : "TEXT"
                    self.template = try MustacheTemplate(string: "{{% CONTENT_TYPE: \(escaping)}}" + template)
                } catch {
                    throw WebhookSetupError(key: "template", message: "the template does not parse: \(error)")
                }
            } else {
                self.template = nil
            }
        }
    }

    /// The sink's name.
    public let name: String
    /// Its settings.
    public let configuration: Configuration
    let transport: any HTTPTransport

    /// Creates the sink. It sends through `transport` (the daemon's shared one), or through a
    /// transport of its own when none is given.
    public init(name: String, configuration: Configuration, transport: (any HTTPTransport)? = nil) {
        self.name = name
        self.configuration = configuration
        self.transport = transport ?? CurlTransport(configuration: .init(maxConcurrentTransfers: 8))
    }

    /// The key that gave a webhook its URL.
    public enum URLSource: String, Sendable {
        /// `url`, in the configuration file.
        case inline = "url"
        /// `url_file`.
        case file = "url_file"
        /// `url_credential`.
        case credential = "url_credential"
    }

    /// Settings that cannot make a sink.
    public struct WebhookSetupError: Error, Sendable {
        /// The configuration key at fault.
        public var key: String
        /// What is wrong, without the secret.
        public var message: String
    }

    /// The body for an event: template, chat format, or canonical JSON.
    public func body(for event: Event) -> Data {
        guard let template = configuration.template else { return configuration.format.body(for: event) }
        return Data(template.render(Self.templateContext(event)).utf8)
    }

    public func deliver(_ event: Event) async throws(DeliveryError) {
        let body = body(for: event)
        let timestamp = Int(Date().timeIntervalSince1970)
        var headers: [(name: String, value: String)] = [
            ("User-Agent", "compliance-watch/\(complianceWatchVersion)"),
            ("webhook-id", event.id), ("webhook-timestamp", String(timestamp)),
        ]
        if let signer = configuration.signer {
            headers.append(("webhook-signature", signer.signature(id: event.id, timestamp: timestamp, body: body)))
        }
        headers += configuration.headers.map { (name: $0.0, value: $0.1) }
        let request = HTTPRequest(
            method: .post,
            url: configuration.url,
            headers: headers,
            body: .data(body, contentType: configuration.contentType),
            timeout: configuration.timeout,
            connectTimeout: min(configuration.timeout, .seconds(10)),
            maxResponseBytes: 1 << 20
        )
        let response: HTTPResponse
        do {
            response = try await transport.send(request)
        } catch let error as HTTPTransportError {
            throw .retryable(error.description)
        } catch {
            throw .retryable("\(error)")
        }
        try Self.classify(response)
    }

    /// Maps a receiver's answer to delivered, retry, final or disable.
    static func classify(_ response: HTTPResponse) throws(DeliveryError) {
        let status = response.status
        if (200..<300).contains(status) { return }
        let snippet = String(decoding: response.body.prefix(200), as: UTF8.self).trimmingCharacters(
            in: .whitespacesAndNewlines
        )
        let message = "HTTP \(status)" + (snippet.isEmpty ? "" : ": \(snippet)")
        switch status {
        case 408, 429, 500...599: throw .retryable(message, retryAfter: response.retryAfter())
        case 410:
            throw DeliveryError(
                "receiver answered 410 Gone (\(message)); sink disabled until reload or restart",
                disposition: .disableSink
            )
        case 300..<400: throw .final("\(message) (redirects are not followed; fix the URL)")
        default: throw .final(message)
        }
    }

    /// What templates can use: the event's fields, `text.*` for the human wording, and `json`.
    static func templateContext(_ event: Event) -> [String: Any] {
        let text = EventText(event)
        let application = (try? JSONSerialization.jsonObject(with: JSONEncoder().encode(event.data.application))) ?? [:]
        var context: [String: Any] = [
            "id": event.id, "type": event.type.rawValue, "timestamp": event.timestamp, "account": event.account,
            "application": application, "detected_at": event.data.detectedAt,
            "text": [
                "emoji": text.emoji, "name": text.name, "verb": text.verb, "scope": text.scope,
                "transition": text.transition,
            ],
            "json": String(decoding: event.canonicalJSON(), as: UTF8.self),
        ]
        if let previous = event.data.previous {
            context["previous"] = [
                "status": previous.status.rawValue, "rejection_reason": previous.rejectionReason ?? "",
            ]
        }
        return context
    }
}

/// Escapes `{{value}}` for use inside a JSON string in a template.
struct JSONEscaping: MustacheContentType {
    func escapeText(_ text: String) -> String {
        let data =
            (try? JSONSerialization.data(withJSONObject: [text], options: [.withoutEscapingSlashes]))
            ?? Data("[\"\"]".utf8)
        let quoted = String(decoding: data, as: UTF8.self)
        return String(quoted.dropFirst(2).dropLast(2))  // strip [" and "]
    }
}

extension WebhookSink.Configuration: CustomStringConvertible, CustomDebugStringConvertible {
    /// Never shows secrets or header values (they may carry tokens).
    public var description: String {
        "WebhookSink.Configuration(url: \(HTTPTransportError.redact(url)), format: \(format.rawValue), secrets: \(secretCount), headers: \(headers.map(\.0)))"
    }
    public var debugDescription: String { description }
}
