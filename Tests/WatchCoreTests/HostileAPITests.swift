import GRDB
import Foundation
import PlivoCompliance
import PlivoSandbox
import Testing
import WatchTesting
@testable import WatchCore

/// The API as it arrives through proxies and middleboxes: every fault the sandbox can make, and
/// what the poller must never do about it.
@Suite("Poller against a hostile API", .timeLimit(.minutes(2)))
struct HostileAPITests {
    @Test("a middlebox's HTML 404 on a confirming GET deletes nothing, and detection goes on")
    func html404IsNotADeletion() async throws {
        let f = try await PollFixture()
        defer { f.stop() }
        let ids = try await f.seed(5)
        let poller = f.poller(maxAttempts: 3)
        _ = try await poller.runCycle(full: true, logger: .quiet)

        // Every application drifts out of its list page, and every GET meets nginx's 404 page.
        try await f.setFaults(#"{"hide_rate": 1, "html_404_rate": 1}"#)
        for _ in 0..<3 {
            let report = try await poller.runCycle(full: false, logger: .quiet)
            #expect(report.events.isEmpty, "no application is announced as deleted")
            #expect(report.problems.count == 5)
            #expect(report.problems.values.allSatisfy { $0.contains("not Plivo's") })
        }
        #expect(try f.store.snapshots(account: PollFixture.authId).count == 5)
        #expect(try f.store.problems().count == 5, "status can name the applications that cannot be confirmed")

        try await f.setFaults("{}")
        try await f.review(ids[2], "accepted")
        let events = try await poller.runCycle(full: false, logger: .quiet).events
        #expect(events.map(\.type) == [EventType.statusChanged])
        #expect(events.first?.toStatus == "accepted")
        #expect(try f.store.problems().isEmpty, "a good answer clears the problem")
        #expect(try await poller.runCycle(full: true, logger: .quiet).events.isEmpty)
    }

    @Test("an id that vanishes and comes back continues its version under new event ids, and later cycles still work")
    func vanishAndComeBack() async throws {
        let f = try await PollFixture()
        defer { f.stop() }
        let ids = try await f.seed(4)
        let poller = f.poller()
        _ = try await poller.runCycle(full: true, logger: .quiet)
        try await f.review(ids[0], "rejected", reason: "blurry")
        var events = try await poller.runCycle(full: false, logger: .quiet).events
        #expect(events.count == 1)

        try await f.control("/_sandbox/applications/\(ids[0])/vanish", #"{"for_s": 600}"#)
        #expect(try await poller.runCycle(full: false, logger: .quiet).events.isEmpty, "one miss is not a deletion")
        let deleted = try await poller.runCycle(full: false, logger: .quiet).events
        #expect(deleted.map(\.type) == [EventType.deleted])
        events += deleted

        try await f.control("/_sandbox/applications/\(ids[0])/vanish", #"{"for_s": 0}"#)
        let back = try await poller.runCycle(full: false, logger: .quiet).events
        #expect(back.map(\.type) == [EventType.created])
        #expect(back.first?.data.previous?.status == "deleted", "created, and it says it was deleted before")
        events += back
        #expect(
            try f.store.snapshots(account: PollFixture.authId)[ids[0]]?.version == 3,
            "the version went on: 1 rejected, 2 deleted, 3 created"
        )

        // Detection of other applications is not stuck behind it.
        try await f.review(ids[1], "accepted")
        try await f.review(ids[0], "accepted")
        let later = try await poller.runCycle(full: false, logger: .quiet).events
        #expect(Set(later.map(\.data.application.complianceApplicationId)) == [ids[0], ids[1]])
        events += later
        #expect(Set(events.map(\.id)).count == events.count, "no id twice")
    }

    @Test("an event id that is already taken skips that application, logs both rows, and commits the rest")
    func idConflictSkipsOneApplication() throws {
        let store = try StateStore.inMemory()
        let salt = try store.eventIdSalt()
        let a = ComplianceApplication(id: "app-a", status: .submitted)
        let b = ComplianceApplication(id: "app-b", status: .submitted)
        // A row squatting on app-a's next event id (a bug elsewhere, or a hand-edited database).
        let taken = Event.makeId(
            salt: salt,
            account: "MA1",
            applicationId: "app-a",
            version: 1,
            transition: Event.transition(type: EventType.created, from: nil, to: "submitted")
        )
        try store.writer.write { db in
            try db.execute(
                sql:
                    "INSERT INTO event (id, account, applicationId, type, body, createdAt) VALUES (?, 'MA1', 'other', 'x', ?, 0)",
                arguments: [taken, Data("{}".utf8)]
            )
        }
        let result = try store.commitCycle(
            CycleOutcome(
                account: "MA1",
                observations: [a, b].map {
                    .init(snapshot: .observed($0, account: "MA1", version: 0), change: .created)
                },
                deletions: [],
                fullSync: false,
                at: Date()
            ),
            sinks: [SinkRoute(name: "s", filter: EventFilter())]
        )
        #expect(result.events.map(\.data.application.complianceApplicationId) == ["app-b"])
        #expect(result.conflicts.map(\.applicationId) == ["app-a"])
        #expect(result.conflicts.first?.description.contains(taken) == true)
        #expect(result.conflicts.first?.existing.hasPrefix("x ") == true, "the stored row is named")
        #expect(try store.snapshots(account: "MA1").keys.sorted() == ["app-b"], "app-a is tried again next cycle")
    }

    @Test(
        "null or missing fields never become a transition",
        arguments: [
            #"{"null_field_rate": 0.01}"#, #"{"hide_rate": 0.3}"#, #"{"html_404_rate": 0.5}"#,
            #"{"rate_429": 0.3, "retry_after": "inf"}"#, #"{"rate_429": 0.3, "retry_after": "1e300"}"#,
            #"{"rate_429": 0.3, "retry_after": "-5"}"#, #"{"rate_429": 0.3, "retry_after": "nan"}"#,
        ]
    )
    func garbledObjects(faults: String) async throws {
        let f = try await PollFixture()
        defer { f.stop() }
        let ids = try await f.seed(60, statuses: #"{"submitted": 0.5, "draft": 0.25, "accepted": 0.25}"#)
        let poller = f.poller(maxAttempts: 200)
        _ = try await poller.runCycle(full: true, logger: .quiet)
        let baseline = try f.store.snapshots(account: PollFixture.authId)
        try await f.setFaults(faults)
        // Single GETs get damaged too; make them frequent by moving applications out of their lists.
        for id in ids.prefix(10) { try await f.review(id, "accepted") }
        var events: [Event] = []
        for round in 0..<6 {
            do {
                events += try await poller.runCycle(full: round % 3 == 2, logger: .quiet).events
            } catch {
                // A failed cycle is allowed; a false event is not.
            }
        }
        try await f.setFaults("{}")
        events += try await poller.runCycle(full: false, logger: .quiet).events
        events += try await poller.runCycle(full: true, logger: .quiet).events

        for event in events {
            #expect(
                event.type == EventType.statusChanged,
                "\(event.type) \(event.fromStatus ?? "-") → \(event.toStatus)"
            )
            #expect(event.toStatus == "accepted")
            #expect(ids.prefix(10).contains(event.data.application.complianceApplicationId))
        }
        let expected = ids.prefix(10).filter { baseline[$0]?.status != .accepted }
        #expect(events.count == expected.count)
        #expect(try f.store.snapshots(account: PollFixture.authId).count == 60)
    }

    @Test("at 60 requests a second and 16 at once, no 5-second window goes over Plivo's 300", .timeLimit(.minutes(1)))
    func exactRate() async throws {
        let f = try await PollFixture(rateLimit: 300)
        defer { f.stop() }
        _ = try await f.seed(8000, statuses: #"{"accepted": 1}"#)
        let poller = Poller(
            source: f.client,
            store: f.store,
            bucket: TokenBucket(rate: 60, burst: 16),
            settings: .init(
                concurrency: 16,
                maxAttempts: 5,
                backoff: Backoff(base: .milliseconds(100), cap: .seconds(1)),
                announceExisting: false
            ),
            sinks: []
        )
        let report = try await poller.runCycle(full: true, logger: .quiet)
        #expect(report.observed == 8000)
        #expect(report.requests == 400, "no request was retried")
        let stats = try await f.transport.send(.init(url: f.baseURL + "/_sandbox/stats"))
        let limited = (try JSONSerialization.jsonObject(with: stats.body) as? [String: Any])?["rate_limited"] as? Int
        #expect(limited == 0, "the sandbox's 300-per-5-s limiter never answered 429")
    }

    @Test("a poll that cannot complete for 3 intervals says so in the status line, and clears when it recovers")
    func stallIsReported() async throws {
        let f = try await PollFixture()
        defer { f.stop() }
        _ = try await f.seed(3)
        let status = StatusBoard()
        let watcher = Watcher(
            poller: f.poller(maxAttempts: 1),
            poll: .init(interval: .milliseconds(50), settledInterval: .seconds(60), jitter: 0, announceExisting: false),
            backoff: Backoff(base: .milliseconds(10), cap: .milliseconds(20)),
            doorbells: [],
            status: status,
            logger: .quiet
        )
        let loop = Task { await watcher.loop() }
        defer { loop.cancel() }
        for _ in 0..<200 where try f.store.pollState(account: PollFixture.authId).baselineDone == false {
            try await Task.sleep(for: .milliseconds(10))
        }
        try await f.setFaults(#"{"rate_500": 1}"#)
        for _ in 0..<300 where status.current.stalled == nil { try await Task.sleep(for: .milliseconds(10)) }
        let stalled = try #require(status.current.stalled)
        #expect(stalled.hasPrefix("stalled: no complete poll since"))
        #expect(stalled.contains("HTTP 500"))
        #expect(status.current.summary.hasPrefix("stalled: "))
        try await f.setFaults("{}")
        for _ in 0..<300 where status.current.stalled != nil { try await Task.sleep(for: .milliseconds(10)) }
        #expect(status.current.stalled == nil)
    }

    @Test("two fresh state databases give disjoint event ids for the same transitions")
    func idsDifferAcrossDatabases() throws {
        func ids() throws -> Set<String> {
            let store = try StateStore.inMemory()
            var ids: Set<String> = []
            for (version, status) in ["submitted", "accepted"].enumerated() {
                let app = ComplianceApplication(id: "app", status: ApplicationStatus(status))
                var snapshot = Snapshot.observed(app, account: "MA1", version: version)
                snapshot.version = version
                let change: Tracker.Change = version == 0 ? .created : .statusChanged(from: .submitted, to: .accepted)
                ids.formUnion(
                    try store.commit(
                        CycleOutcome(
                            account: "MA1",
                            observations: [.init(snapshot: snapshot, change: change)],
                            deletions: [],
                            fullSync: false,
                            at: Date()
                        ),
                        sinks: []
                    ).map(\.id)
                )
            }
            return ids
        }
        let first = try ids()
        let second = try ids()
        #expect(first.count == 2)
        #expect(second.count == 2)
        #expect(first.isDisjoint(with: second))
    }
}
