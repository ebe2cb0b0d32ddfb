import Foundation
import GRDB
import PlivoCompliance
import PlivoSandbox
import Testing
import WatchTesting
@testable import WatchCore

@Suite("Poller against the sandbox", .timeLimit(.minutes(1)))
struct PollerTests {
    @Test("the first sync is a silent baseline; later changes become events", arguments: StoreBackend.allCases)
    func baselineThenTransitions(_ backend: StoreBackend) async throws {
        let f = try await PollFixture(backend: backend)
        defer { f.stop() }
        let ids = try await f.seed(45)
        let poller = f.poller()
        let first = try await poller.runCycle(full: true, logger: .quiet)
        #expect(first.events.isEmpty)
        #expect(first.observed == 45)
        #expect(try f.store.snapshots(account: PollFixture.authId).count == 45)

        try await f.review(ids[0], "accepted")
        try await f.review(ids[1], "rejected", reason: "Address proof is older than 3 months")
        let hot = try await poller.runCycle(full: false, logger: .quiet)
        #expect(!hot.full)
        let changes = Dictionary(
            uniqueKeysWithValues: hot.events.map { ($0.data.application.complianceApplicationId, $0) }
        )
        #expect(hot.events.count == 2)
        #expect(changes[ids[0]]?.type == EventType.statusChanged)
        #expect(changes[ids[0]]?.fromStatus == "submitted")
        #expect(changes[ids[0]]?.toStatus == "accepted")
        #expect(changes[ids[1]]?.data.application.rejectionReason == "Address proof is older than 3 months")

        // Nothing new: nothing announced.
        #expect(try await poller.runCycle(full: false, logger: .quiet).events.isEmpty)
        #expect(try await poller.runCycle(full: true, logger: .quiet).events.isEmpty)
    }

    @Test("a hot scan costs one list per changeable status plus one GET per application that left its list")
    func hotScanCost() async throws {
        let f = try await PollFixture()
        defer { f.stop() }
        let ids = try await f.seed(45)  // all submitted: 3 pages
        let poller = f.poller()
        _ = try await poller.runCycle(full: true, logger: .quiet)
        try await f.review(ids[5], "accepted")
        let report = try await poller.runCycle(full: false, logger: .quiet)
        // draft (1 empty page) + submitted (3 pages) + rejected (1 empty page) + 1 confirming GET
        #expect(report.requests == 6)
        #expect(report.events.count == 1)
    }

    @Test("announce_existing makes the baseline announce every application")
    func announceExisting() async throws {
        let f = try await PollFixture()
        defer { f.stop() }
        _ = try await f.seed(7, statuses: #"{"accepted": 1}"#)
        let report = try await f.poller(announceExisting: true).runCycle(full: true, logger: .quiet)
        #expect(report.events.count == 7)
        #expect(report.events.allSatisfy { $0.type == EventType.created && $0.data.previous == nil })
    }

    @Test(
        "created after the baseline, rejection reason updates, and deletes confirmed by 404",
        arguments: StoreBackend.allCases
    )
    func createdUpdatedDeleted(_ backend: StoreBackend) async throws {
        let f = try await PollFixture(backend: backend)
        defer { f.stop() }
        let ids = try await f.seed(3)
        let poller = f.poller()
        _ = try await poller.runCycle(full: true, logger: .quiet)

        let user = try await f.client.endUsers.create(name: "New", endUserType: "business")
        let created = try await f.client.applications.create(
            alias: "new-app",
            endUserId: user.id,
            documentIds: [],
            requirement: .lookup(countryISO2: "FR", numberType: "mobile", endUserType: "business")
        )
        try await f.review(ids[0], "rejected", reason: "first reason")
        var events = try await poller.runCycle(full: false, logger: .quiet).events
        #expect(Set(events.map(\.type)) == [EventType.created, EventType.statusChanged])
        #expect(events.first { $0.type == EventType.created }?.data.application.complianceApplicationId == created.id)

        try await f.review(ids[0], "rejected", reason: "second reason")
        events = try await poller.runCycle(full: false, logger: .quiet).events
        #expect(events.map(\.type) == [EventType.updated])
        #expect(events[0].data.previous?.rejectionReason == "first reason")
        #expect(events[0].data.application.rejectionReason == "second reason")

        try await f.client.applications.delete(ids[1])
        // One scan that misses it (with Plivo's 404) is not enough; the second confirms.
        #expect(try await poller.runCycle(full: false, logger: .quiet).events.isEmpty)
        #expect(try f.store.snapshots(account: PollFixture.authId)[ids[1]]?.missedScans == 1)
        events = try await poller.runCycle(full: false, logger: .quiet).events
        #expect(events.map(\.type) == [EventType.deleted])
        #expect(events[0].data.application.complianceApplicationId == ids[1])
        #expect(try f.store.snapshots(account: PollFixture.authId)[ids[1]] == nil)
        #expect(
            try f.store.tombstones(account: PollFixture.authId)[ids[1]]?.version == 1,
            "the tombstone keeps its version"
        )
    }

    @Test(
        "each fault type: no false events, and the right events in the end",
        arguments: [
            #"{"rate_500": 0.3}"#, #"{"rate_429": 0.3, "retry_after_s": 0}"#, #"{"rate_429": 0.3}"#,
            #"{"malformed_rate": 0.2}"#, #"{"truncate_rate": 0.2}"#, #"{"drop_rate": 0.2}"#, #"{"latency_ms": 30}"#,
        ]
    )
    func faults(faults: String) async throws {
        let f = try await PollFixture()
        defer { f.stop() }
        let ids = try await f.seed(60, statuses: #"{"submitted": 0.5, "draft": 0.25, "accepted": 0.25}"#)
        let poller = f.poller()
        try await f.setFaults(faults)
        _ = try await poller.runCycle(full: true, logger: .quiet)
        let baseline = try f.store.snapshots(account: PollFixture.authId)
        #expect(baseline.count == 60)
        for id in ids.prefix(10) { try await f.review(id, "accepted") }
        var events: [Event] = []
        for round in 0..<6 {
            events += try await poller.runCycle(full: round % 2 == 1, logger: .quiet).events
        }
        try await f.setFaults("{}")
        events += try await poller.runCycle(full: true, logger: .quiet).events

        // Every event is a real transition to accepted, of an application that was reviewed.
        let changedBefore = Set(ids.prefix(10))
        for event in events {
            #expect(event.type == EventType.statusChanged)
            #expect(event.toStatus == "accepted")
            #expect(changedBefore.contains(event.data.application.complianceApplicationId))
        }
        // Applications already accepted before the review produce no event; the others exactly one.
        let snapshots = try f.store.snapshots(account: PollFixture.authId)
        #expect(snapshots.count == 60)
        for id in changedBefore {
            #expect(snapshots[id]?.status == .accepted)
            let count = events.filter { $0.data.application.complianceApplicationId == id }.count
            #expect(
                count == (baseline[id]?.status == .accepted ? 0 : 1),
                "\(id) was \(baseline[id]?.status.rawValue ?? "?")"
            )
        }
        #expect(Set(events.map(\.id)).count == events.count, "no id used twice")
    }

    @Test("a cycle that cannot complete changes nothing")
    func failedCycleLeavesStateUntouched() async throws {
        let f = try await PollFixture()
        defer { f.stop() }
        let ids = try await f.seed(50)
        let poller = f.poller(maxAttempts: 2)
        _ = try await poller.runCycle(full: true, logger: .quiet)
        let before = try f.store.snapshots(account: PollFixture.authId)
        try await f.review(ids[0], "accepted")
        try await f.client.applications.delete(ids[1])
        try await f.setFaults(#"{"rate_500": 1}"#)
        let error = await #expect(throws: CycleError.self) { try await poller.runCycle(full: false, logger: .quiet) }
        guard case .api(let apiError)? = error else {
            Issue.record("not an API error: \(String(describing: error))")
            return
        }
        #expect(apiError.status == 500)
        #expect(try f.store.snapshots(account: PollFixture.authId) == before)
        #expect(try f.store.events().isEmpty)
        try await f.setFaults("{}")
        let recovered =
            try await poller.runCycle(full: false, logger: .quiet).events
            + (try await poller.runCycle(full: false, logger: .quiet).events)
        #expect(recovered.map(\.type) == [EventType.statusChanged, EventType.deleted])
    }

    @Test("429 from the account limit is retried through, honouring the pause")
    func accountRateLimit() async throws {
        let f = try await PollFixture(rateLimit: 10)
        defer { f.stop() }
        _ = try await f.seed(400, statuses: #"{"accepted": 1}"#)
        let poller = Poller(
            source: f.client,
            store: f.store,
            bucket: TokenBucket(rate: 1000, burst: 50),
            settings: .init(
                concurrency: 4,
                maxAttempts: 100,
                backoff: Backoff(base: .milliseconds(50), cap: .milliseconds(500)),
                announceExisting: false
            ),
            sinks: []
        )
        let report = try await poller.runCycle(full: true, logger: .quiet)
        #expect(report.observed == 400)
        let stats = try await f.transport.send(.init(url: f.baseURL + "/_sandbox/stats"))
        let limited =
            (try JSONSerialization.jsonObject(with: stats.body) as? [String: Any])?["rate_limited"] as? Int ?? 0
        #expect(limited > 0, "the sandbox's limit was hit and survived")
    }

    @Test("deliveries are recorded only for sinks whose filter matches")
    func routing() async throws {
        let f = try await PollFixture()
        defer { f.stop() }
        let ids = try await f.seed(3)
        let poller = f.poller(sinks: [
            SinkRoute(name: "all", filter: EventFilter()),
            SinkRoute(name: "approvals", filter: EventFilter(types: [EventType.statusChanged], to: ["accepted"])),
        ])
        _ = try await poller.runCycle(full: true, logger: .quiet)
        try await f.review(ids[0], "accepted")
        try await f.review(ids[1], "rejected", reason: "x")
        _ = try await poller.runCycle(full: false, logger: .quiet)
        let all = try f.store.deliveries(sink: "all")
        let approvals = try f.store.deliveries(sink: "approvals")
        #expect(all.count == 2)
        #expect(approvals.map(\.applicationId) == [ids[0]])
        #expect(approvals.allSatisfy { $0.state == .pending })
    }

    @Test(
        "without a sandbox: a deletion needs two scans, each with Plivo's 404; a GET that fails deletes nothing",
        arguments: StoreBackend.allCases
    )
    func scriptedDeletion(_ backend: StoreBackend) async throws {
        let source = ScriptedApplicationSource()
        for id in ["app-a", "app-b", "app-c"] {
            source.put(ComplianceApplication(id: id, alias: id, status: .submitted))
        }
        let store = try backend.makeStore()
        let poller = Poller(
            source: source,
            store: store,
            bucket: TokenBucket(rate: 1000, burst: 10),
            settings: .init(
                concurrency: 2,
                maxAttempts: 2,
                backoff: Backoff(base: .milliseconds(1), cap: .milliseconds(2)),
                announceExisting: false
            ),
            sinks: [SinkRoute(name: "test", filter: EventFilter())]
        )
        #expect(try await poller.runCycle(full: true, logger: .quiet).events.isEmpty)

        source.delete("app-a")
        source.hideFromLists("app-b")
        source.failGet("app-b", with: PlivoError(kind: .api, status: 503, message: "unavailable"))
        let first = try await poller.runCycle(full: false, logger: .quiet)
        #expect(first.events.isEmpty, "one miss is not a deletion")
        #expect(first.problems.keys.sorted() == ["app-b"])
        #expect(source.requests.contains("get app-a"))

        let second = try await poller.runCycle(full: false, logger: .quiet)
        #expect(second.events.map(\.type) == [.deleted])
        #expect(second.events.first?.data.application.complianceApplicationId == "app-a")
        #expect(try store.snapshots(account: source.account).keys.sorted() == ["app-b", "app-c"])
    }

    static func scriptedPoller(_ source: ScriptedApplicationSource, _ store: StateStore, concurrency: Int = 2) -> Poller
    {
        Poller(
            source: source,
            store: store,
            bucket: TokenBucket(rate: 1000, burst: 10),
            settings: .init(
                concurrency: concurrency,
                maxAttempts: 1,
                backoff: Backoff(base: .milliseconds(1), cap: .milliseconds(2)),
                announceExisting: false
            ),
            sinks: [SinkRoute(name: "test", filter: EventFilter())]
        )
    }

    @Test(
        "a first sync commits page by page: a list that breaks halfway keeps the pages read as a silent baseline, and the retry finishes it with no event",
        arguments: StoreBackend.allCases
    )
    func firstSyncCommitsPageByPage(_ backend: StoreBackend) async throws {
        let source = ScriptedApplicationSource()
        for i in 0..<50 { source.put(ComplianceApplication(id: String(format: "app-%02d", i), status: .accepted)) }
        let store = try backend.makeStore()
        let poller = Self.scriptedPoller(source, store, concurrency: 1)
        source.failLists(with: PlivoError(kind: .api, status: 503, message: "unavailable"), fromOffset: 40)
        await #expect(throws: CycleError.self) { try await poller.runCycle(full: true, logger: .quiet) }
        // Offsets 0 and 20 were read and committed before the third page failed.
        #expect(try store.snapshots(account: source.account).count == 40)
        #expect(try store.pollState(account: source.account).baselineDone == false)

        source.failLists(with: nil)
        let retry = try await poller.runCycle(full: false, logger: .quiet)
        #expect(retry.full, "without a baseline, every cycle is a full sync")
        #expect(retry.events.isEmpty)
        #expect(try store.snapshots(account: source.account).count == 50)
        #expect(try store.pollState(account: source.account).baselineDone)
        #expect(try store.deliveries(sink: "test").isEmpty)
    }

    @Test(
        "a full sync misses a settled application wherever it is stored, and two such syncs delete it",
        arguments: StoreBackend.allCases
    )
    func fullSyncDeletion(_ backend: StoreBackend) async throws {
        let source = ScriptedApplicationSource()
        for id in ["app-a", "app-b", "app-c", "app-d", "app-e"] {
            source.put(ComplianceApplication(id: id, status: .accepted))
        }
        let store = try backend.makeStore()
        let poller = Self.scriptedPoller(source, store)
        _ = try await poller.runCycle(full: true, logger: .quiet)
        source.delete("app-d")
        source.delete("app-b")
        #expect(try await poller.runCycle(full: true, logger: .quiet).events.isEmpty, "one miss is not a deletion")
        #expect(
            try store.snapshots(account: source.account).values.filter { $0.missedScans == 1 }.map(\.applicationId)
                .sorted() == ["app-b", "app-d"]
        )
        let second = try await poller.runCycle(full: true, logger: .quiet)
        #expect(second.events.map(\.type) == [.deleted, .deleted])
        #expect(try store.snapshots(account: source.account).keys.sorted() == ["app-a", "app-c", "app-e"])
    }

    @Test(
        "a shown field that changes (alias) is stored without an event; a row from before content hashes gets one, with no event"
    )
    func contentHashDecidesRewrites() async throws {
        let source = ScriptedApplicationSource()
        source.put(ComplianceApplication(id: "app-a", alias: "first", status: .submitted))
        let store = try StateStore.inMemory()
        let poller = Self.scriptedPoller(source, store)
        _ = try await poller.runCycle(full: true, logger: .quiet)
        let hash = try #require(try store.snapshots(account: source.account)["app-a"]?.contentHash)

        source.put(ComplianceApplication(id: "app-a", alias: "second", status: .submitted))
        #expect(try await poller.runCycle(full: false, logger: .quiet).events.isEmpty)
        let renamed = try #require(try store.snapshots(account: source.account)["app-a"])
        #expect(renamed.application.alias == "second")
        #expect(renamed.contentHash != hash)
        #expect(
            renamed.contentHash
                == EventApplication(ComplianceApplication(id: "app-a", alias: "second", status: .submitted)).contentHash
        )

        try await store.writer.write { try $0.execute(sql: "UPDATE application SET contentHash = NULL") }
        #expect(try await poller.runCycle(full: false, logger: .quiet).events.isEmpty)
        #expect(try store.snapshots(account: source.account)["app-a"]?.contentHash == renamed.contentHash)
        #expect(try store.deliveries(sink: "test").isEmpty)
    }

    @Test("a hot scan reads only changeable and suspected applications, without bodies, through the watch index")
    func hotScanReadsTheWatchIndex() async throws {
        let source = ScriptedApplicationSource()
        for (id, status) in [
            ("app-a", "accepted"), ("app-b", "Submitted"), ("app-c", "draft"), ("app-d", "ACCEPTED"),
            ("app-e", "suspended"),
        ] {
            source.put(ComplianceApplication(id: id, status: ApplicationStatus(status)))
        }
        let store = try StateStore.inMemory()
        _ = try await Self.scriptedPoller(source, store).runCycle(full: true, logger: .quiet)
        #expect(try store.watchedApplications(account: source.account).keys.sorted() == ["app-b", "app-c", "app-e"])
        // A suspect stays watched whatever its status.
        try await store.writer.write {
            try $0.execute(sql: "UPDATE application SET missedScans = 1 WHERE id = 'app-a'")
        }
        #expect(
            try store.watchedApplications(account: source.account).keys.sorted() == [
                "app-a", "app-b", "app-c", "app-e",
            ]
        )
        let plan = try await store.writer.read { db in
            try Row.fetchAll(
                db,
                sql:
                    "EXPLAIN QUERY PLAN SELECT \(TrackedApplication.columns) FROM application WHERE account = ? AND \(StateStore.watchCondition)",
                arguments: [source.account]
            ).map { $0["detail"] as String }.joined(separator: "; ")
        }
        #expect(plan.contains("application_watch"), "plan: \(plan)")
    }

    @Test(
        "stored document ids read back exactly, through the quick split or JSONDecoder",
        arguments: [
            [], ["doc-1"], ["a", "b", "c"], ["a,b", "c"], ["q\"uote"], ["back\\slash"], ["ü/é"], [""], ["[", "]", ","],
        ] as [[String]]
    )
    func documentIdsRoundTrip(ids: [String]) throws {
        #expect(try TrackedApplication.documentIds(StateStore.jsonArray(ids)) == ids)
    }

    @Test(
        "stored document ids that are not a JSON array of strings are an error, never a guess",
        arguments: [
            #"["a""b"]"#, #"["a"#, #"[1]"#, "{}", #"["a"],"#,
        ]
    )
    func documentIdsRejected(json: String) {
        #expect(throws: (any Error).self) { try TrackedApplication.documentIds(json) }
    }

    @Test("the ids a full sync saw: each counted once, found again, others not")
    func seenIds() {
        var seen = SeenIds()
        let ids = (0..<1000).map { "app-\($0)" }
        var inserted = 0
        for id in ids where seen.insert(id) { inserted += 1 }
        #expect(inserted == 1000)
        let again = seen.insert("app-7")
        #expect(!again)
        #expect(seen.count == 1000)
        #expect(ids.allSatisfy(seen.contains))
        #expect(!seen.contains("app-1000") && !seen.contains("") && !seen.contains("APP-7"))
    }
}
