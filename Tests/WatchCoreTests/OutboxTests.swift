import Foundation
import GRDB
import PlivoCompliance
import Testing
import WatchTesting
@testable import WatchCore

/// Commits status changes straight into a store, as the poller would.
private func record(_ store: StateStore, sinks: [String], changes: [(app: String, to: String)]) throws -> [Event] {
    var events: [Event] = []
    for (app, to) in changes {
        let previous = try store.snapshots(account: "MA1")[app]
        let application = ComplianceApplication(id: app, alias: app, status: ApplicationStatus(to))
        let snapshot = Snapshot.observed(application, account: "MA1", version: previous?.version ?? 0)
        let change: Tracker.Change = previous.map { .statusChanged(from: $0.status, to: snapshot.status) } ?? .created
        events += try store.commit(
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
    return events
}

private func dispatcher(
    _ sink: RecordingSink,
    _ store: StateStore,
    maxAttempts: Int = 5,
    concurrency: Int = 8
) -> Dispatcher {
    Dispatcher(
        sink: sink,
        store: store,
        settings: .init(
            concurrency: concurrency,
            maxAttempts: maxAttempts,
            maxAge: .seconds(3600),
            backoff: Backoff(base: .milliseconds(1), cap: .milliseconds(5))
        ),
        doorbell: Doorbell(),
        logger: .quiet
    )
}

@Suite("Outbox and dispatcher", .timeLimit(.minutes(1)))
struct OutboxTests {
    @Test("migrations are named and applied in order, the same in both backends", arguments: StoreBackend.allCases)
    func migrations(_ backend: StoreBackend) throws {
        #expect(
            try backend.makeStore().appliedMigrations() == [
                "v1-create-state", "v2-add-audit-head", "v3-index-pending-deliveries", "v4-tombstones-and-event-salt",
                "v5-delivery-skipped-state", "v6-document-ids-as-json", "v7-content-hash-and-watch-index",
                "v8-index-delivery-state", "v9-ha-lease", "v10-audit-head-epoch",
            ]
        )
    }

    @Test(
        "history: an application by id or alias, its transitions in order with each sink's state",
        arguments: StoreBackend.allCases
    )
    func history(_ backend: StoreBackend) throws {
        let store = try backend.makeStore()
        let events = try record(
            store,
            sinks: ["audit", "hook"],
            changes: [("app-1", "submitted"), ("app-2", "draft"), ("app-1", "accepted")]
        )
        try store.markDelivered(
            eventSeq: try #require(try store.deliveries(sink: "hook").last?.eventSeq),
            sink: "hook",
            at: Date()
        )
        let resolved = try store.resolveApplication("app-2")
        #expect(resolved.account == "MA1" && resolved.id == "app-2")
        let aliased = ComplianceApplication(id: "app-3", alias: "acme-fr-mobile", status: .submitted)
        try store.commit(
            CycleOutcome(
                account: "MA1",
                observations: [.init(snapshot: .observed(aliased, account: "MA1", version: 0), change: .created)],
                deletions: [],
                fullSync: false,
                at: Date()
            ),
            sinks: []
        )
        #expect(try store.resolveApplication("acme-fr-mobile").id == "app-3", "by alias, read from the stored body")
        #expect(throws: HistoryLookupError.self) { try store.resolveApplication("nobody") }
        let entries = try store.history(account: "MA1", applicationId: "app-1")
        #expect(
            entries.map(\.event.id)
                == events.filter { $0.data.application.complianceApplicationId == "app-1" }.map(\.id)
        )
        #expect(entries.map { $0.event.toStatus.rawValue } == ["submitted", "accepted"])
        #expect(entries.first?.deliveries.map(\.sink) == ["audit", "hook"])
        #expect(
            entries.first?.deliveries.first { $0.sink == "hook" }?.state == .delivered,
            "the oldest hook delivery was marked"
        )
    }

    @Test("a database written before v6 keeps its document ids, now stored as JSON")
    func documentIdsMigrate() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("cw-\(UUID().uuidString)/state.db")
            .path
        try FileManager.default.createDirectory(
            atPath: (path as NSString).deletingLastPathComponent,
            withIntermediateDirectories: true
        )
        let old = try DatabaseQueue(path: path)
        try SQLiteDatabase.migrator.migrate(old, upTo: "v5-delivery-skipped-state")
        try old.write { db in
            for (id, joined) in [("two", "doc-b,doc-a"), ("none", ""), ("gap", "doc-a,,doc-b"), ("quote", #"doc-"q""#)]
            {
                try db.execute(
                    sql: """
                        INSERT INTO application (account, id, status, documentIds, body, version, firstSeenAt, lastSeenAt)
                        VALUES ('MA1', ?, 'submitted', ?, '{}', 1, 0, 0)
                        """,
                    arguments: [id, joined]
                )
            }
        }
        try old.close()
        let store = try StateStore.open(path: path)
        let snapshots = try store.snapshots(account: "MA1")
        #expect(snapshots["two"]?.documentIds == ["doc-b", "doc-a"])
        #expect(snapshots["none"]?.documentIds == [])
        #expect(snapshots["gap"]?.documentIds == ["doc-a", "", "doc-b"], "split as components(separatedBy:) split it")
        #expect(snapshots["quote"]?.documentIds == [#"doc-"q""#])
        let stored = try store.writer.read {
            try String.fetchAll($0, sql: "SELECT documentIds FROM application ORDER BY id")
        }
        #expect(stored == [#"["doc-a","","doc-b"]"#, "[]", #"["doc-\"q\""]"#, #"["doc-b","doc-a"]"#])
    }

    @Test("a file database opens in WAL mode, and a second open sees the same data")
    func fileDatabase() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("cw-\(UUID().uuidString)/state.db")
            .path
        let store = try StateStore.open(path: path)
        _ = try record(store, sinks: ["a"], changes: [("app1", "draft")])
        let reader = try StateStore.openReadOnly(path: path)
        #expect(try reader.events().count == 1)
        #expect(FileManager.default.fileExists(atPath: path + "-wal"))
        #expect(throws: StoreError.self) { try StateStore.openReadOnly(path: path + ".missing") }
    }

    @Test("the snapshot, the event and one delivery per sink are written together", arguments: StoreBackend.allCases)
    func oneTransaction(_ backend: StoreBackend) throws {
        let store = try backend.makeStore()
        let events = try record(store, sinks: ["a", "b"], changes: [("app1", "draft"), ("app1", "submitted")])
        #expect(events.count == 2)
        #expect(events[1].fromStatus == "draft")
        #expect(try store.snapshots(account: "MA1")["app1"]?.version == 2)
        #expect(try store.deliveries(sink: "a").count == 2)
        #expect(try store.deliveries(sink: "b").count == 2)
        #expect(try store.events().map(\.id) == events.map(\.id), "ids are stored, not recomputed")
    }

    @Test("pending deliveries are delivered once and marked", arguments: StoreBackend.allCases)
    func delivers(_ backend: StoreBackend) async throws {
        let store = try backend.makeStore()
        let events = try record(store, sinks: ["s"], changes: [("a", "draft"), ("b", "draft")])
        let sink = RecordingSink(name: "s")
        await dispatcher(sink, store).drain()
        #expect(Set(sink.events.map(\.id)) == Set(events.map(\.id)))
        #expect(try store.deliveries(sink: "s", state: .delivered).count == 2)
        await dispatcher(sink, store).drain()
        #expect(sink.events.count == 2, "nothing sent twice")
    }

    @Test(
        "a closed lease gate sends nothing and leaves every delivery pending; once open, all go out; a gate whose lease ran out is closed"
    )
    func leaseGate() async throws {
        let store = try StateStore.inMemory()
        let events = try record(store, sinks: ["s"], changes: [("a", "draft"), ("b", "draft")])
        let sink = RecordingSink(name: "s")
        let gate = LeaseGate.closed()
        func gated() -> Dispatcher {
            Dispatcher(
                sink: sink,
                store: store,
                settings: .init(
                    concurrency: 8,
                    maxAttempts: 5,
                    maxAge: .seconds(3600),
                    backoff: Backoff(base: .milliseconds(1), cap: .milliseconds(5))
                ),
                doorbell: Doorbell(),
                logger: .quiet,
                gate: gate
            )
        }
        await gated().drain()
        #expect(sink.events.isEmpty, "not leading: nothing sent")
        #expect(try store.deliveries(sink: "s", state: .pending).count == 2)

        gate.open(until: ContinuousClock.now - .milliseconds(1))
        #expect(!gate.isOpen, "a lease that already ran out by this clock")
        await gated().drain()
        #expect(sink.events.isEmpty)

        gate.open(until: ContinuousClock.now + .seconds(60))
        await gated().drain()
        #expect(Set(sink.events.map(\.id)) == Set(events.map(\.id)))
        gate.close()
        #expect(!gate.isOpen)
        #expect(LeaseGate.alwaysOpen().isOpen)
    }

    @Test("retryable failures are retried with the same event id", arguments: StoreBackend.allCases)
    func retries(_ backend: StoreBackend) async throws {
        let store = try backend.makeStore()
        let events = try record(store, sinks: ["s"], changes: [("a", "draft")])
        let sink = RecordingSink(name: "s", failures: 2)
        let d = dispatcher(sink, store)
        for _ in 0..<50 where sink.events.isEmpty {
            await d.drain()
            try await Task.sleep(for: .milliseconds(5))
        }
        #expect(sink.events.map(\.id) == [events[0].id])
        let row = try #require(try store.deliveries(sink: "s").first)
        #expect(row.state == .delivered)
        #expect(row.attempts == 3)
    }

    @Test(
        "after max_attempts a delivery is a dead letter with its last error, and can be redelivered",
        arguments: StoreBackend.allCases
    )
    func deadLetters(_ backend: StoreBackend) async throws {
        let store = try backend.makeStore()
        let events = try record(store, sinks: ["s"], changes: [("a", "draft")])
        let sink = RecordingSink(name: "s", failures: 1000)
        let d = dispatcher(sink, store, maxAttempts: 3)
        for _ in 0..<50 where try store.deliveries(sink: "s", state: .dead).isEmpty {
            await d.drain()
            try await Task.sleep(for: .milliseconds(5))
        }
        let dead = try #require(try store.deliveries(sink: "s", state: .dead).first)
        #expect(dead.attempts == 3)
        #expect(dead.lastError == "receiver said no")

        sink.setFailures(0)
        #expect(try store.redeliverDead(sink: "s") == 1)
        await d.drain()
        #expect(sink.events.map(\.id) == [events[0].id])
    }

    @Test(
        "a final error dead-letters at once; 410-style errors hold the whole sink, nothing dead",
        arguments: StoreBackend.allCases
    )
    func finalErrors(_ backend: StoreBackend) async throws {
        let store = try backend.makeStore()
        _ = try record(store, sinks: ["s"], changes: [("a", "draft")])
        let sink = RecordingSink(name: "s", failures: 1, disposition: .final)
        await dispatcher(sink, store).drain()
        #expect(try store.deliveries(sink: "s", state: .dead).first?.attempts == 1)

        _ = try record(store, sinks: ["g"], changes: [("b", "draft"), ("c", "draft"), ("d", "draft")])
        let gone = RecordingSink(name: "g", failures: 1, disposition: .disableSink)
        await dispatcher(gone, store, concurrency: 1).drain()
        #expect(try store.deliveries(sink: "g", state: .dead).isEmpty)
        #expect(try store.deliveries(sink: "g", state: .pending).count == 3)
        #expect(
            try store.deliveries(sink: "g", state: .pending).allSatisfy {
                $0.lastError?.contains("receiver said no") == true
            }
        )
        #expect(gone.events.isEmpty)
    }

    @Test(
        "one application's events go out in order, different applications concurrently",
        arguments: StoreBackend.allCases
    )
    func ordering(_ backend: StoreBackend) async throws {
        let store = try backend.makeStore()
        var changes: [(String, String)] = []
        for step in ["draft", "submitted", "rejected", "submitted", "accepted"] {
            for app in ["a", "b", "c", "d"] { changes.append((app, step)) }
        }
        _ = try record(store, sinks: ["s"], changes: changes)
        let sink = RecordingSink(name: "s", delay: .milliseconds(10))
        let stop = StopSignal()
        let d = dispatcher(sink, store, concurrency: 4)
        let task = Task { await d.run(until: stop) }
        for _ in 0..<200 where sink.events.count < 20 { try await Task.sleep(for: .milliseconds(10)) }
        stop.raise()
        d.doorbell.ring()
        await task.value
        #expect(sink.events.count == 20)
        for app in ["a", "b", "c", "d"] {
            let statuses = sink.events.filter { $0.data.application.complianceApplicationId == app }.map(\.toStatus)
            #expect(statuses == ["draft", "submitted", "rejected", "submitted", "accepted"])
        }
        #expect(sink.maxConcurrent > 1)
        #expect(sink.maxConcurrent <= 4)
    }

    @Test(
        "a sink disabled by 410 holds its deliveries, pending with the reason, until enabled again",
        arguments: StoreBackend.allCases
    )
    func disabledSink(_ backend: StoreBackend) async throws {
        let store = try backend.makeStore()
        _ = try record(store, sinks: ["gone", "audit"], changes: [("a", "draft"), ("c", "draft")])
        let gone = RecordingSink(name: "gone", failures: 1, disposition: .disableSink)
        let states = SinkStates()
        let d = Dispatcher(
            sink: gone,
            store: store,
            settings: .init(
                concurrency: 1,
                maxAttempts: 5,
                maxAge: .seconds(3600),
                backoff: Backoff(base: .milliseconds(1), cap: .milliseconds(5))
            ),
            doorbell: Doorbell(),
            logger: .quiet,
            sinkStates: states
        )
        await d.attempt(try #require(try store.dueDeliveries(sink: "gone", now: Date(), limit: 1).first))
        #expect(states.isDisabled("gone"))
        #expect(try store.summary().disabledSinks.map(\.sink) == ["gone"])
        #expect(try store.summary().disabledSinks.first?.reason == "receiver said no")
        await d.drain()
        #expect(gone.events.isEmpty, "nothing is sent while disabled")

        // The poller's next commit records the sink's delivery as held, not dropped.
        let app = ComplianceApplication(id: "b", status: .draft)
        let result = try store.commitCycle(
            CycleOutcome(
                account: "MA1",
                observations: [.init(snapshot: .observed(app, account: "MA1", version: 0), change: .created)],
                deletions: [],
                fullSync: false,
                at: Date()
            ),
            sinks: [SinkRoute(name: "gone", filter: EventFilter()), SinkRoute(name: "audit", filter: EventFilter())],
            held: states.heldReasons
        )
        #expect(result.events.count == 1)
        let held = try store.deliveries(sink: "gone")
        #expect(held.count == 3)
        #expect(held.allSatisfy { $0.state == .pending })
        #expect(held.allSatisfy { $0.lastError?.hasPrefix("held: sink disabled (receiver said no)") == true })

        // Enabled again (a reload or a restart): everything held goes out.
        states.enableAll()
        try store.prepareSinks(configured: ["gone", "audit"])
        #expect(try store.summary().disabledSinks.isEmpty)
        await d.drain()
        #expect(Set(gone.events.map(\.data.application.complianceApplicationId)) == ["a", "b", "c"])
    }

    @Test(
        "retention prunes old delivered rows, and old events only when asked; pending and dead rows stay",
        arguments: StoreBackend.allCases
    )
    func retention(_ backend: StoreBackend) throws {
        let store = try backend.makeStore()
        let old = Date(timeIntervalSinceNow: -40 * 86400)
        let events = try record(
            store,
            sinks: ["file", "hook"],
            changes: [("a", "draft"), ("b", "draft"), ("c", "draft")]
        )
        let rows = try store.deliveries(limit: 100)
        func seq(_ event: Event, _ sink: String) throws -> Int64 {
            try #require(rows.first { $0.event.id == event.id && $0.sink == sink }).eventSeq
        }
        // a: delivered long ago everywhere; b: delivered long ago to file, dead for hook; c: delivered just now.
        for sink in ["file", "hook"] {
            try store.markDelivered(eventSeq: try seq(events[0], sink), sink: sink, at: old)
        }
        try store.markDelivered(eventSeq: try seq(events[1], "file"), sink: "file", at: old)
        try store.markFailed(eventSeq: try seq(events[1], "hook"), sink: "hook", error: "gone", retryAt: nil)
        for sink in ["file", "hook"] {
            try store.markDelivered(eventSeq: try seq(events[2], sink), sink: sink, at: Date())
        }

        let cutoff = Date(timeIntervalSinceNow: -30 * 86400)
        #expect(try store.prune(deliveredBefore: cutoff) == .init(deliveries: 3, events: 0))
        #expect(try store.events().count == 3, "events are the approvals history: kept unless asked")
        let left = try store.deliveries(limit: 100)
        #expect(
            Set(left.map { "\($0.event.data.application.complianceApplicationId)/\($0.sink)/\($0.state.rawValue)" })
                == ["b/hook/dead", "c/file/delivered", "c/hook/delivered"]
        )

        // Events recorded before "now + 1 s" are all old enough, but b still has a dead letter.
        #expect(
            try store.prune(deliveredBefore: cutoff, eventsBefore: Date(timeIntervalSinceNow: 1))
                == .init(deliveries: 0, events: 2)
        )
        #expect(try store.events().map(\.data.application.complianceApplicationId) == ["b"])
        #expect(try store.deliveries(limit: 100).map(\.state) == [.dead])
        #expect(try store.snapshots(account: "MA1").count == 3, "snapshots keep each application's event count")
    }

    @Test("a failing sink does not hold up another", arguments: StoreBackend.allCases)
    func isolation(_ backend: StoreBackend) async throws {
        let store = try backend.makeStore()
        _ = try record(store, sinks: ["bad", "good"], changes: [("a", "draft"), ("b", "draft"), ("a", "submitted")])
        let bad = RecordingSink(name: "bad", failures: 1000, delay: .milliseconds(20))
        let good = RecordingSink(name: "good")
        let service = DeliveryService(dispatchers: [dispatcher(bad, store), dispatcher(good, store)], logger: .quiet)
        let task = Task { try await service.run() }
        for _ in 0..<200 where good.events.count < 3 { try await Task.sleep(for: .milliseconds(5)) }
        task.cancel()
        _ = await task.result
        #expect(good.events.count == 3)
        // The bad sink was being tried all along, and failing, while the good one delivered.
        let badRows = try store.deliveries(sink: "bad")
        #expect(badRows.count == 3)
        #expect(badRows.allSatisfy { $0.state == .pending })
        #expect(badRows.contains { $0.attempts >= 1 && $0.lastError == "receiver said no" })
    }

    @Test("backoff: full jitter under a doubling cap, never below Retry-After")
    func backoff() {
        let b = Backoff(base: .seconds(1), cap: .seconds(60))
        #expect(b.ceiling(attempt: 0) == .seconds(1))
        #expect(b.ceiling(attempt: 3) == .seconds(8))
        #expect(b.ceiling(attempt: 20) == .seconds(60))
        #expect(b.delay(attempt: 3, random: 0.5) == .seconds(4))
        #expect(b.delay(attempt: 3, random: 0) == .zero)
        #expect(b.delay(attempt: 0, retryAfter: .seconds(30), random: 1) == .seconds(30))
    }
}
