import CurlHTTP
import Foundation
import PlivoCompliance
import PlivoSandbox
import Testing
import WatchTesting
@testable import WatchCore

/// Commits one status change per (application, status) pair, as the poller would.
private func record(_ store: StateStore, sinks: [String], _ changes: [(app: String, to: String)]) throws {
    for (app, to) in changes {
        let previous = try store.snapshots(account: "MA1")[app]
        let snapshot = Snapshot.observed(
            ComplianceApplication(id: app, status: ApplicationStatus(to)),
            account: "MA1",
            version: previous?.version ?? 0
        )
        let change: Tracker.Change = previous.map { .statusChanged(from: $0.status, to: snapshot.status) } ?? .created
        try store.commit(
            CycleOutcome(
                account: "MA1",
                observations: [.init(snapshot: snapshot, change: change)],
                deletions: [],
                fullSync: false,
                at: Date()
            ),
            sinks: sinks.map { SinkRoute(name: $0, filter: EventFilter()) }
        )
    }
}

/// A sink that fails as told, and can claim to be an audit trail.
final class ScriptedSink: Sink, @unchecked Sendable {
    let name: String
    let isAuditTrail: Bool
    private let lock = NSLock()
    private var failures: [DeliveryError.Disposition]
    /// When set, only this application's deliveries use up the scripted failures.
    private let failing: String?
    private(set) var delivered: [Event] = []

    init(name: String, auditTrail: Bool = false, failures: [DeliveryError.Disposition] = [], failing: String? = nil) {
        self.name = name
        isAuditTrail = auditTrail
        self.failures = failures
        self.failing = failing
    }

    func deliver(_ event: Event) async throws(DeliveryError) {
        let failure: DeliveryError.Disposition? = lock.withLock {
            if failures.isEmpty || (failing != nil && event.data.application.complianceApplicationId != failing) {
                delivered.append(event)
                return nil
            }
            return failures.removeFirst()
        }
        if let failure { throw DeliveryError("scripted \(failure)", disposition: failure) }
    }

    var deliveredStatuses: [String] { lock.withLock { delivered.map(\.toStatus.rawValue) } }
}

private func dispatcher(
    _ sink: any Sink,
    _ store: StateStore,
    maxAttempts: Int = 3,
    maxAge: Duration = .seconds(3600)
) -> Dispatcher {
    Dispatcher(
        sink: sink,
        store: store,
        settings: .init(
            concurrency: 4,
            maxAttempts: maxAttempts,
            maxAge: maxAge,
            backoff: Backoff(base: .milliseconds(1), cap: .milliseconds(2))
        ),
        doorbell: Doorbell(),
        logger: .quiet
    )
}

@Suite("Delivery semantics", .timeLimit(.minutes(1)))
struct DeliverySemanticsTests {
    @Test(
        "a dead letter holds back its application's later events until an operator skips it",
        arguments: StoreBackend.allCases
    )
    func orderNeverSkipped(_ backend: StoreBackend) async throws {
        let store = try backend.makeStore()
        try record(
            store,
            sinks: ["hook"],
            [("a", "submitted"), ("a", "rejected"), ("a", "submitted"), ("b", "submitted")]
        )
        // a and b are delivered concurrently: the failure must be a's, whichever arrives first.
        let sink = ScriptedSink(name: "hook", failures: [.final], failing: "a")
        let d = dispatcher(sink, store)
        await d.drain()
        // a's first event died; its two later events wait; b is not held up.
        #expect(sink.delivered.map(\.data.application.complianceApplicationId) == ["b"])
        let blocked = try store.blocked()
        #expect(blocked.count == 1)
        #expect(blocked.first?.applicationId == "a")
        #expect(blocked.first?.waiting == 2)
        let dead = try #require(try store.deliveries(sink: "hook", state: .dead).first)
        #expect(blocked.first?.blockingEventId == dead.event.id)

        #expect(try store.skip(eventId: dead.event.id, sink: "hook") == 1)
        await d.drain()
        #expect(
            sink.delivered.filter { $0.data.application.complianceApplicationId == "a" }.map(\.toStatus) == [
                "rejected", "submitted",
            ]
        )
        let skipped = try #require(try store.deliveries(sink: "hook", state: .skipped).first)
        #expect(skipped.lastError?.hasPrefix("skipped by operator at ") == true)
        #expect(try store.blocked().isEmpty)
    }

    @Test(
        "an audit trail is never dead-lettered, whatever max_attempts and max_age say",
        arguments: StoreBackend.allCases
    )
    func auditTrailNeverGivesUp(_ backend: StoreBackend) async throws {
        let store = try backend.makeStore()
        try record(store, sinks: ["audit", "hook"], [("a", "submitted")])
        let audit = ScriptedSink(
            name: "audit",
            auditTrail: true,
            failures: [DeliveryError.Disposition](repeating: .retry, count: 6) + [DeliveryError.Disposition.final]
        )
        let hook = ScriptedSink(name: "hook", failures: [DeliveryError.Disposition](repeating: .retry, count: 6))
        for _ in 0..<8 {
            await dispatcher(audit, store, maxAttempts: 2, maxAge: .zero).drain()
            await dispatcher(hook, store, maxAttempts: 2, maxAge: .zero).drain()
            try await Task.sleep(for: .milliseconds(5))
        }
        #expect(try store.deliveries(sink: "hook").first?.state == .dead, "an ordinary sink gives up")
        #expect(audit.delivered.count == 1, "the audit trail kept trying until it could write")
        #expect(try store.deliveries(sink: "audit").first?.state == .delivered)
        #expect(try store.deliveries(sink: "audit").first?.attempts == 8)
    }

    @Test("the default retry schedule runs for days: its last attempt lands near max_age", arguments: [false, true])
    func schedule(worstCase: Bool) throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent(
            "cw-schedule-\(UUID().uuidString).toml"
        ).path
        try "[plivo]\nauth_id = \"MA1\"\n".write(toFile: path, atomically: true, encoding: .utf8)
        let delivery = try DaemonConfiguration.load(path: path, environment: ["PLIVO_AUTH_TOKEN": "t"]).delivery
        #expect(delivery.maxAttempts == nil)
        let backoff = Backoff(base: delivery.backoffBase, cap: delivery.backoffMax)
        let maxAge = delivery.maxAge.inSeconds
        // Attempt n happens at the sum of the delays before it; full jitter draws each delay from
        // 0…ceiling, so use the expected (half) or the worst (whole) ceiling.
        var at = 0.0
        var attempts = 1
        while at < maxAge {
            at += backoff.ceiling(attempt: attempts - 1).inSeconds * (worstCase ? 1 : 0.5)
            attempts += 1
        }
        #expect(maxAge >= 72 * 3600)
        #expect(at >= maxAge, "the last attempt comes at or after max_age")
        #expect(at - maxAge <= delivery.backoffMax.inSeconds, "within one backoff cap of max_age (\(at / 3600) h)")
        #expect(attempts > 50, "\(attempts) attempts over \(maxAge / 3600) h")
    }

    @Test("redeliver never appends an event already in the audit file, and a file sink skips lines already written")
    func noDuplicateLines() async throws {
        let authId = "MAREDELIVER000000000"
        let sandbox = try await SandboxServer.start(.init(authId: authId, authToken: "t", rateLimit: 0))
        defer { sandbox.stop() }
        await sandbox.seed(count: 2)
        let fixture = try DaemonFixture(baseURL: await sandbox.baseURL, authId: authId, token: "t")
        try fixture.announceExisting()
        #expect(try await runCLI(["once", "--config", fixture.configPath]).0 == 0)
        let before = try fixture.auditEvents()
        #expect(before.lines == 2)
        let id = try #require(before.events.first?.id)

        let (code, out, _) = try await runCLI([
            "deliveries", "redeliver", "--config", fixture.configPath, "--event", id,
        ])
        #expect(code == 1, "nothing to queue")
        #expect(out.contains("audit: already in the audit file; not appended again"))
        #expect(try await runCLI(["once", "--config", fixture.configPath]).0 == 0)
        #expect(try fixture.auditEvents().lines == 2)

        // A crash after the line was written but before the delivery was recorded: the row is
        // pending again, and the file sink finds the line at the file's tail instead of adding one.
        let store = try StateStore.open(path: fixture.statePath)
        let seq = try #require(try store.deliveries(sink: "audit").first { $0.event.id == id }?.eventSeq)
        try store.markFailed(eventSeq: seq, sink: "audit", error: "simulated crash", retryAt: Date())
        #expect(try await runCLI(["once", "--config", fixture.configPath]).0 == 0)
        #expect(try fixture.auditEvents().lines == 2)
        #expect(try store.pendingCount() == 0)
        let (verifyCode, verifyOut, _) = try await runCLI([
            "audit", "verify", fixture.auditPath, "--config", fixture.configPath,
        ])
        #expect(verifyCode == 0, "\(verifyOut)")
    }

    @Test("audit verify names a hole the database knows of, and takes rotated files in any order")
    func holesAndOrder() async throws {
        let authId = "MAHOLE00000000000000"
        let sandbox = try await SandboxServer.start(.init(authId: authId, authToken: "t", rateLimit: 0))
        defer { sandbox.stop() }
        await sandbox.seed(count: 3)
        let fixture = try DaemonFixture(baseURL: await sandbox.baseURL, authId: authId, token: "t")
        try fixture.announceExisting()
        #expect(try await runCLI(["once", "--config", fixture.configPath]).0 == 0)
        #expect(try await runCLI(["audit", "verify", fixture.auditPath, "--config", fixture.configPath]).0 == 0)

        // Rotate, write more, and give the files in the wrong order.
        try FileManager.default.moveItem(atPath: fixture.auditPath, toPath: fixture.auditPath + ".1")
        let client = PlivoClient(
            configuration: .init(authId: authId, authToken: "t", baseURL: await sandbox.baseURL),
            transport: CurlTransportFactory.make()
        )
        for app in try await client.applications.all().collect() where app.status == .draft || app.status == .rejected {
            _ = try await client.applications.submit(app.id)
        }
        let user = try await client.endUsers.create(name: "Hole", endUserType: "business")
        _ = try await client.applications.create(
            alias: "hole",
            endUserId: user.id,
            documentIds: [],
            requirement: .lookup(countryISO2: "FR", numberType: "mobile", endUserType: "business")
        )
        #expect(try await runCLI(["once", "--config", fixture.configPath]).0 == 0)
        // Files are merged by seq: any order verifies, and the same lines are counted either way.
        let (reversedCode, reversedOut, _) = try await runCLI([
            "audit", "verify", fixture.auditPath, fixture.auditPath + ".1", "--config", fixture.configPath,
        ])
        let (orderedCode, orderedOut, _) = try await runCLI([
            "audit", "verify", fixture.auditPath + ".1", fixture.auditPath, "--config", fixture.configPath,
        ])
        #expect(reversedCode == 0 && orderedCode == 0, "\(reversedOut)")
        #expect(reversedOut.split(separator: "\n").first == orderedOut.split(separator: "\n").first)
        #expect(orderedOut.hasPrefix("OK: "))

        // An older version dead-lettered a file delivery: the line was never written.
        let store = try StateStore.open(path: fixture.statePath)
        try record(store, sinks: ["audit"], [("never-written", "submitted")])
        let victim = try #require(try store.deliveries(sink: "audit", state: .pending).first)
        try store.markFailed(eventSeq: victim.eventSeq, sink: "audit", error: "No space left on device", retryAt: nil)
        let (holeCode, holeOut, _) = try await runCLI([
            "audit", "verify", fixture.auditPath + ".1", fixture.auditPath, "--config", fixture.configPath,
        ])
        #expect(holeCode == 1)
        #expect(
            holeOut.contains("HOLE: 1 event recorded for this file are not in it: \(victim.event.id)"),
            "\(holeOut)"
        )
    }
}
