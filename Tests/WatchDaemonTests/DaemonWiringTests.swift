import CurlHTTP
import Foundation
import Testing
import WatchCore
import WatchDaemon
@testable import WatchSinks
import WatchTesting

@Suite("Daemon wiring")
struct DaemonWiringTests {
    @Test("the daemon builds each sink once, and every HTTP and SMTP sink shares the Plivo client's transport")
    func sinksBuiltOnce() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cw-once-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let path = dir.appendingPathComponent("cw.toml").path
        try """
        [plivo]
        auth_id = "MA1"
        [state]
        path = "state.db"
        [[sinks]]
        name = "audit"
        type = "file"
        path = "audit.jsonl"
        [[sinks]]
        name = "hook"
        type = "webhook"
        url = "http://127.0.0.1:9/hook"
        [[sinks]]
        name = "chat"
        type = "webhook"
        url = "http://127.0.0.1:9/chat"
        format = "slack"
        [[sinks]]
        name = "mail"
        type = "mail"
        from = "a@example.com"
        to = ["b@example.com"]
        transport = "smtp"
        url = "smtp://127.0.0.1:2525"
        starttls = "none"
        """.write(toFile: path, atomically: true, encoding: .utf8)
        let configuration = try Daemon.loadConfiguration(
            path: path,
            environment: ["PLIVO_AUTH_TOKEN": "env-token-s3cr3t"]
        )
        #expect(configuration.sinks.map(\.kind) == [.file, .webhook, .webhook, .mail])
        #expect(configuration.sinks.allSatisfy { $0.settings != nil }, "settings are read once, at load")
        let daemon = Daemon(configuration: configuration, store: try StateStore.inMemory(), logger: .quiet)
        #expect(daemon.sinks.map(\.name) == ["audit", "hook", "chat", "mail"])
        #expect(daemon.dispatchers.map(\.sink.name) == daemon.sinks.map(\.name))
        let webhooks = daemon.sinks.compactMap { $0 as? WebhookSink }
        #expect(webhooks.count == 2)
        #expect(webhooks.allSatisfy { ($0.transport as? CurlTransport) === daemon.transport })
        // Enough transfer slots for the poller and every sink at full concurrency.
        #expect(
            daemon.transport.configuration.maxConcurrentTransfers
                == configuration.plivo.concurrency + 2 * configuration.delivery.concurrency + 2
        )
    }
}
