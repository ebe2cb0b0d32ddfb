import CurlHTTP
import FlyingFox
import FlyingSocks
import Foundation
import Synchronization
import Testing
import WatchCore
@testable import WatchSinks

/// A real HTTP receiver on loopback that records requests and answers as told.
final class Receiver: Sendable {
    struct Received: Sendable {
        var headers: [String: String]
        var body: Data
    }

    let server: HTTPServer
    let task: Task<Void, any Error>
    let received = Mutex<[Received]>([])
    let answers = Mutex<[(Int, [String: String])]>([])

    init() async throws {
        server = HTTPServer(
            config: .init(address: try sockaddr_in.inet(ip4: "127.0.0.1", port: 0), timeout: 30, logger: .disabled)
        )
        task = Task { [server] in try await server.run() }
        try await server.waitUntilListening()
        await server.appendRoute("/hook") { [self] request in
            let body = try await request.bodyData
            var headers: [String: String] = [:]
            for (name, value) in request.headers { headers[name.rawValue.lowercased()] = value }
            received.withLock { $0.append(Received(headers: headers, body: body)) }
            let (status, extra) = answers.withLock { $0.isEmpty ? (200, [:]) : $0.removeFirst() }
            var responseHeaders: FlyingFox.HTTPHeaders = [:]
            for (k, v) in extra { responseHeaders[FlyingFox.HTTPHeader(k)] = v }
            if status == 999 { try await Task.sleep(for: .seconds(5)) }
            return HTTPResponse(
                statusCode: HTTPStatusCode(status == 999 ? 200 : status, phrase: "X"),
                headers: responseHeaders,
                body: Data("ok".utf8)
            )
        }
    }

    func answer(_ status: Int, _ headers: [String: String] = [:]) { answers.withLock { $0.append((status, headers)) } }
    var requests: [Received] { received.withLock { $0 } }

    var url: String {
        get async {
            guard case .ip4(_, let port)? = await server.listeningAddress else { return "" }
            return "http://127.0.0.1:\(port)/hook"
        }
    }

    deinit { task.cancel() }
}

let secretA = "whsec_" + Data("0123456789abcdef0123456789abcdef".utf8).base64EncodedString()
let secretB = "whsec_" + Data("another-secret-key-for-rotation!".utf8).base64EncodedString()

@Suite("Webhook sink", .timeLimit(.minutes(1)))
struct WebhookTests {
    @Test("posts the canonical event with Standard Webhooks headers; every secret signs")
    func signed() async throws {
        let receiver = try await Receiver()
        let sink = try WebhookSink(
            name: "hook",
            configuration: .init(
                url: await receiver.url,
                secrets: [secretA, secretB],
                headers: [("X-Team", "compliance")]
            )
        )
        let event = makeEvent()
        try await sink.deliver(event)
        let request = try #require(receiver.requests.first)
        #expect(request.body == event.canonicalJSON())
        #expect(request.headers["content-type"] == "application/json")
        #expect(request.headers["user-agent"]?.hasPrefix("compliance-watch/") == true)
        #expect(request.headers["x-team"] == "compliance")
        #expect(request.headers["webhook-id"] == event.id)
        let timestamp = try #require(Int(request.headers["webhook-timestamp"] ?? ""))
        #expect(abs(Double(timestamp) - Date().timeIntervalSince1970) < 60)
        let signature = try #require(request.headers["webhook-signature"])
        #expect(signature.split(separator: " ").count == 2)
        #expect(
            StandardWebhooks.verify(
                secret: secretA,
                id: event.id,
                timestamp: timestamp,
                body: request.body,
                header: signature
            )
        )
        #expect(
            StandardWebhooks.verify(
                secret: secretB,
                id: event.id,
                timestamp: timestamp,
                body: request.body,
                header: signature
            )
        )
        #expect(
            !StandardWebhooks.verify(
                secret: secretA,
                id: event.id,
                timestamp: timestamp + 1,
                body: request.body,
                header: signature
            )
        )
    }

    @Test("the signature matches the Standard Webhooks reference vector")
    func referenceVector() throws {
        // From the Standard Webhooks specification's examples.
        let signer = try StandardWebhooks(secrets: ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"])
        let body = Data(#"{"test": 2432232314}"#.utf8)
        #expect(
            signer.signature(id: "msg_p5jXN8AQM9LWM0D4loKWxJek", timestamp: 1614265330, body: body)
                == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        )
    }

    @Test(
        "what each answer means",
        arguments: [
            (200, "delivered"), (204, "delivered"), (302, "final"), (400, "final"), (404, "final"),
            (408, "retry"), (429, "retry"), (500, "retry"), (503, "retry"), (410, "disable"),
        ]
    )
    func classification(status: Int, expected: String) async throws {
        let receiver = try await Receiver()
        receiver.answer(status, status == 302 ? ["Location": "http://127.0.0.1:1/"] : [:])
        let sink = try WebhookSink(name: "hook", configuration: .init(url: await receiver.url))
        do {
            try await sink.deliver(makeEvent())
            #expect(expected == "delivered")
        } catch {
            switch error.disposition {
            case .retry: #expect(expected == "retry")
            case .final: #expect(expected == "final")
            case .disableSink: #expect(expected == "disable")
            }
            #expect(error.message.contains("HTTP \(status)"))
        }
        #expect(receiver.requests.count == 1, "a redirect is not followed")
    }

    @Test("429 and 503 pass Retry-After on")
    func retryAfter() async throws {
        let receiver = try await Receiver()
        receiver.answer(429, ["Retry-After": "12"])
        let sink = try WebhookSink(name: "hook", configuration: .init(url: await receiver.url))
        let error = await #expect(throws: DeliveryError.self) { try await sink.deliver(makeEvent()) }
        #expect(error?.retryAfter == .seconds(12))
    }

    @Test("a dead receiver or a slow one is retryable; the per-sink timeout applies")
    func deadAndSlow() async throws {
        let dead = try WebhookSink(name: "hook", configuration: .init(url: "http://127.0.0.1:1/hook"))
        let refused = await #expect(throws: DeliveryError.self) { try await dead.deliver(makeEvent()) }
        #expect(refused?.isRetryable == true)
        #expect(refused?.message.contains("http://127.0.0.1:1/…") == true)
        #expect(refused?.message.contains("/hook") == false, "the path of a webhook URL is never shown")

        let receiver = try await Receiver()
        receiver.answer(999)
        let slow = try WebhookSink(
            name: "hook",
            configuration: .init(url: await receiver.url, timeout: .milliseconds(300))
        )
        let timedOut = await #expect(throws: DeliveryError.self) { try await slow.deliver(makeEvent()) }
        #expect(timedOut?.isRetryable == true)
        #expect(timedOut?.message.contains("Timeout") == true || timedOut?.message.contains("timed out") == true)
    }

    @Test("a bad secret is refused without echoing it")
    func badSecret() {
        #expect(throws: WebhookSink.WebhookSetupError.self) {
            try WebhookSink(
                name: "h",
                configuration: .init(url: "https://example.com", secrets: ["not-a-whsec-value-s3cr3t"])
            )
        }
        do {
            _ = try WebhookSink(
                name: "h",
                configuration: .init(url: "https://example.com", secrets: ["not-a-whsec-value-s3cr3t"])
            )
        } catch {
            #expect(!error.message.contains("s3cr3t"))
        }
    }

    @Test("a Mustache template renders the body, JSON-escaped")
    func template() async throws {
        let receiver = try await Receiver()
        let sink = try WebhookSink(
            name: "hook",
            configuration: .init(
                url: await receiver.url,
                template:
                    #"{"summary": "{{text.emoji}} {{text.name}} {{text.verb}}", "id": "{{id}}", "was": "{{previous.status}}"}"#
            )
        )
        try await sink.deliver(
            makeEvent(alias: #"acme "quoted" \ name"#, from: "submitted", to: "rejected", reason: "Too old")
        )
        let body = try #require(receiver.requests.first?.body)
        let object = try #require(try JSONSerialization.jsonObject(with: body) as? [String: String])
        #expect(object["summary"] == #"❌ acme "quoted" \ name rejected: Too old"#)
        #expect(object["was"] == "submitted")
        #expect(object["id"]?.hasPrefix("evt_") == true)
    }
}

@Suite("Chat formats")
struct ChatFormatTests {
    func object(_ format: ChatFormat, _ event: Event) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: format.body(for: event)) as? [String: Any])
    }

    @Test("messages read like a person wrote them")
    func wording() {
        #expect(
            EventText(makeEvent()).emoji + " " + EventText(makeEvent()).name + " (" + EventText(makeEvent()).scope
                + ") " + EventText(makeEvent()).verb
                == "✅ acme-fr-mobile (FR · mobile · business) accepted"
        )
        let rejected = EventText(makeEvent(to: "rejected", reason: "Address proof is older than 3 months"))
        #expect(
            "\(rejected.emoji) \(rejected.name) \(rejected.verb)"
                == "❌ acme-fr-mobile rejected: Address proof is older than 3 months"
        )
        #expect(EventText(makeEvent()).transition == "submitted → accepted")
    }

    @Test("Slack: blocks with a text fallback; mentions and formatting from the API are neutralised")
    func slack() throws {
        let o = try object(
            .slack,
            makeEvent(alias: "<!channel> *bold* & co", to: "rejected", reason: "<@U123> says no")
        )
        let text = try #require(o["text"] as? String)
        #expect(text.contains("&lt;!channel&gt;"))
        #expect(!text.contains("<!channel>"))
        let blocks = try #require(o["blocks"] as? [[String: Any]])
        let facts = try #require((blocks[1]["text"] as? [String: Any])?["text"] as? String)
        #expect(facts.contains("&lt;@U123&gt; says no"))
        #expect(!facts.contains("<@U123>"))
        #expect(text.contains("\u{200B}*\u{200B}bold\u{200B}*\u{200B}"))
    }

    @Test("Mattermost: markdown text with @-mentions broken")
    func mattermost() throws {
        let o = try object(.mattermost, makeEvent(alias: "@channel **x**"))
        let text = try #require(o["text"] as? String)
        #expect(text.contains("@\u{200B}channel \\*\\*x\\*\\*"))
        #expect(text.hasPrefix("✅ **@\u{200B}channel"))
    }

    @Test("Teams: a Workflows message carrying an Adaptive Card")
    func teams() throws {
        let o = try object(.teams, makeEvent())
        #expect(o["type"] as? String == "message")
        let attachment = try #require((o["attachments"] as? [[String: Any]])?.first)
        #expect(attachment["contentType"] as? String == "application/vnd.microsoft.card.adaptive")
        let card = try #require(attachment["content"] as? [String: Any])
        #expect(card["type"] as? String == "AdaptiveCard")
        let body = try #require(card["body"] as? [[String: Any]])
        #expect((body[0]["text"] as? String)?.contains("accepted") == true)
        #expect(((body[1]["facts"] as? [[String: String]])?.first)?["value"] == "submitted → accepted")
    }

    @Test("Discord: content and an embed, no mentions parsed, limits kept on characters")
    func discord() throws {
        let longReason = String(repeating: "👩‍👩‍👧‍👦", count: 3000)  // multi-scalar graphemes
        let o = try object(.discord, makeEvent(alias: "@everyone", to: "rejected", reason: longReason))
        #expect((o["allowed_mentions"] as? [String: Any])?["parse"] as? [String] == [])
        let content = try #require(o["content"] as? String)
        #expect(content.count <= 2000)
        #expect(content.hasSuffix("…"))
        #expect(content.unicodeScalars.contains("\u{200B}"))
        let embed = try #require((o["embeds"] as? [[String: Any]])?.first)
        let fields = try #require(embed["fields"] as? [[String: Any]])
        let reason = try #require(fields.first { $0["name"] as? String == "Reason" }?["value"] as? String)
        #expect(reason.count == 1024)
        #expect(reason.dropLast().allSatisfy { $0 == "👩‍👩‍👧‍👦" }, "cut between graphemes, never inside one")
    }

    @Test("truncation counts characters, not bytes")
    func truncation() {
        #expect(ChatFormat.truncate("héllo wörld", 5) == "héll…")
        #expect(ChatFormat.truncate("short", 10) == "short")
    }
}
