import CurlHTTP
import Foundation
import Logging
import Synchronization
import Testing
@testable import WatchCore
@testable import WatchSinks

/// Keeps every log line (message and metadata) in memory.
final class CapturingLog: Sendable {
    let lines = Mutex<[String]>([])

    var logger: Logger {
        Logger(label: "capture") { [self] _ in Handler(log: self) }
    }

    var text: String { lines.withLock { $0.joined(separator: "\n") } }

    struct Handler: LogHandler {
        let log: CapturingLog
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) {
            let all = metadata.merging(event.metadata ?? [:]) { $1 }
            log.lines.withLock { $0.append("\(event.level) \(event.message) \(all)") }
        }
    }
}

@Suite("Receivers as strangers write them", .timeLimit(.minutes(1)))
struct HostileReceiverTests {
    static func dispatcher(_ sink: any Sink, store: StateStore, logger: Logger) -> Dispatcher {
        Dispatcher(
            sink: sink,
            store: store,
            settings: .init(
                concurrency: 1,
                maxAttempts: 100,
                maxAge: .seconds(3600),
                backoff: Backoff(base: .seconds(1), cap: .seconds(30))
            ),
            doorbell: Doorbell(),
            logger: logger
        )
    }

    /// Commits one event for `sink` and returns its pending delivery.
    static func pending(_ store: StateStore, sink: String) throws -> DeliveryRecord {
        let app = ComplianceApplicationFixture.make(status: "accepted")
        try store.commit(
            CycleOutcome(
                account: "MA1",
                observations: [.init(snapshot: .observed(app, account: "MA1", version: 0), change: .created)],
                deletions: [],
                fullSync: false,
                at: Date()
            ),
            sinks: [SinkRoute(name: sink, filter: EventFilter())]
        )
        return try #require(try store.dueDeliveries(sink: sink, now: Date().addingTimeInterval(1), limit: 1).first)
    }

    @Test(
        "a hostile Retry-After from a receiver neither crashes nor parks the delivery",
        arguments: [
            "inf", "-inf", "nan", "1e300", "-5", "99999999999999999999999", "",
        ]
    )
    func hostileRetryAfter(value: String) async throws {
        let receiver = try await Receiver()
        receiver.answer(429, ["Retry-After": value])
        let sink = try WebhookSink(name: "hook", configuration: .init(url: await receiver.url))
        let store = try StateStore.inMemory()
        let record = try Self.pending(store, sink: "hook")
        let before = Date()
        await Self.dispatcher(sink, store: store, logger: .init(label: "t") { _ in SwiftLogNoOpLogHandler() }).attempt(
            record
        )

        let after = try #require(try store.deliveries(sink: "hook").first)
        #expect(after.state == .pending, "retried, not dead")
        #expect(after.attempts == 1)
        // The backoff cap (30 s) for garbage, at most the one-hour clamp for a huge number.
        let limit: TimeInterval = value.allSatisfy(\.isNumber) && !value.isEmpty ? 3600 : 30
        // Slack for a loaded machine; a broken parser would park it for centuries (or crash).
        #expect(after.nextAttemptAt.timeIntervalSince(before) <= limit + 60)
        #expect(receiver.requests.count == 1)
    }

    @Test("a chat webhook URL never reaches a log line, an error or the state database")
    func urlIsSecret() async throws {
        let secretPath = "/services/T0SECRET/B0SECRET/XXXXTOKENXXXX"
        let log = CapturingLog()
        let store = try StateStore.inMemory()

        // A receiver that is down (a curl error) …
        let down = try WebhookSink(
            name: "chat",
            configuration: .init(url: "http://127.0.0.1:1" + secretPath, format: .slack)
        )
        let first = try Self.pending(store, sink: "chat")
        await Self.dispatcher(down, store: store, logger: log.logger).attempt(first)
        // … and one that answers 500.
        let receiver = try await Receiver()
        receiver.answer(500)
        let failing = try WebhookSink(name: "chat", configuration: .init(url: await receiver.url, format: .slack))
        let second = try #require(
            try store.dueDeliveries(sink: "chat", now: Date().addingTimeInterval(3600), limit: 1).first
        )
        await Self.dispatcher(failing, store: store, logger: log.logger).attempt(second)

        let recorded = try store.deliveries(sink: "chat").compactMap(\.lastError)
        #expect(recorded.count == 1)
        #expect(log.text.contains("http://127.0.0.1:1/…"), "the host is shown, so the operator knows which receiver")
        for text in [log.text] + recorded + ["\(down.configuration)", "\(failing.configuration)"] {
            #expect(!text.contains("SECRET"), "\(text)")
            #expect(!text.contains("TOKEN"), "\(text)")
            #expect(!text.contains("/hook"), "\(text)")
        }
    }

    @Test("an audit file on a full disk is never dead-lettered: it stays pending, saying why")
    func fullDiskNeverDeadLetters() async throws {
        let store = try StateStore.inMemory()
        let record = try Self.pending(store, sink: "audit")
        let sink = FileSink(name: "audit", configuration: .init(path: "/dev/full"), store: store)
        let d = Dispatcher(
            sink: sink,
            store: store,
            settings: .init(
                concurrency: 1,
                maxAttempts: 1,
                maxAge: .zero,
                backoff: Backoff(base: .milliseconds(1), cap: .milliseconds(2))
            ),
            doorbell: Doorbell(),
            logger: .init(label: "t") { _ in SwiftLogNoOpLogHandler() }
        )
        await d.attempt(record)
        try await Task.sleep(for: .milliseconds(5))
        await d.drain()
        let after = try #require(try store.deliveries(sink: "audit").first)
        #expect(after.state == .pending, "max_attempts 1 and max_age 0 do not apply to an audit trail")
        #expect(after.attempts >= 2)
        #expect(after.lastError == "cannot write to /dev/full: No space left on device")
        #expect(try store.summary().health.first?.lastError == "cannot write to /dev/full: No space left on device")
    }

    @Test(
        "redaction keeps scheme, host and port only",
        arguments: [
            ("https://hooks.slack.com/services/T0/B0/XXXX", "https://hooks.slack.com/…"),
            ("https://discord.com/api/webhooks/1/abc?wait=true", "https://discord.com/…"),
            ("http://user:pw@127.0.0.1:8080/hook", "http://127.0.0.1:8080/…"),
            ("https://example.com/", "https://example.com/"),
            ("https://example.com", "https://example.com/"),
            ("https://example.com?token=x", "https://example.com/…"),
            ("not a url", "<url>"),
        ]
    )
    func redaction(url: String, shown: String) {
        #expect(HTTPTransportError.redact(url) == shown)
    }
}
