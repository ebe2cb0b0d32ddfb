import Foundation
import PlivoCompliance
import Testing
import WatchTesting
@testable import WatchCore

@Suite("Tracker")
struct TrackerTests {
    static func snap(_ status: String, reason: String? = nil, docs: [String] = ["d1"]) -> Snapshot {
        let app = ComplianceApplication(
            id: "a1",
            alias: "acme",
            status: ApplicationStatus(status),
            rejectionReason: reason,
            documents: docs.map { ApplicationDocument(documentId: $0) }
        )
        return Snapshot.observed(app, account: "MA1", version: 0)
    }

    struct Row: Sendable, CustomTestStringConvertible {
        var name: String
        var previous: Snapshot?
        var observed: Snapshot
        var baselineDone: Bool
        var announce: Bool
        var expected: Tracker.Change
        var testDescription: String { name }
    }

    static let rows: [Row] = [
        Row(
            name: "first sight during baseline is silent",
            previous: nil,
            observed: snap("accepted"),
            baselineDone: false,
            announce: false,
            expected: .baseline
        ),
        Row(
            name: "announce_existing announces the baseline",
            previous: nil,
            observed: snap("accepted"),
            baselineDone: false,
            announce: true,
            expected: .created
        ),
        Row(
            name: "new after baseline is created",
            previous: nil,
            observed: snap("draft"),
            baselineDone: true,
            announce: false,
            expected: .created
        ),
        Row(
            name: "same state is unchanged",
            previous: snap("submitted"),
            observed: snap("submitted"),
            baselineDone: true,
            announce: false,
            expected: .unchanged
        ),
        Row(
            name: "case alone is no change",
            previous: snap("submitted"),
            observed: snap("SUBMITTED"),
            baselineDone: true,
            announce: false,
            expected: .unchanged
        ),
        Row(
            name: "submitted to accepted",
            previous: snap("submitted"),
            observed: snap("accepted"),
            baselineDone: true,
            announce: false,
            expected: .statusChanged(from: "submitted", to: "accepted")
        ),
        Row(
            name: "a missed step is reported as observed",
            previous: snap("draft"),
            observed: snap("accepted"),
            baselineDone: true,
            announce: false,
            expected: .statusChanged(from: "draft", to: "accepted")
        ),
        Row(
            name: "rejected with a reason is one status change",
            previous: snap("submitted"),
            observed: snap("rejected", reason: "Illegible"),
            baselineDone: true,
            announce: false,
            expected: .statusChanged(from: "submitted", to: "rejected")
        ),
        Row(
            name: "unknown statuses are kept",
            previous: snap("accepted"),
            observed: snap("suspended"),
            baselineDone: true,
            announce: false,
            expected: .statusChanged(from: "accepted", to: "suspended")
        ),
        Row(
            name: "new rejection reason is an update",
            previous: snap("rejected", reason: "A"),
            observed: snap("rejected", reason: "B"),
            baselineDone: true,
            announce: false,
            expected: .updated
        ),
        Row(
            name: "documents changed is an update",
            previous: snap("draft", docs: ["d1"]),
            observed: snap("draft", docs: ["d1", "d2"]),
            baselineDone: true,
            announce: false,
            expected: .updated
        ),
        Row(
            name: "document order alone is no change",
            previous: snap("draft", docs: ["d2", "d1"]),
            observed: snap("draft", docs: ["d1", "d2"]),
            baselineDone: true,
            announce: false,
            expected: .unchanged
        ),
    ]

    @Test("classification table", arguments: rows)
    func classify(row: Row) {
        let change = Tracker.classify(
            previous: row.previous,
            observed: row.observed,
            baselineDone: row.baselineDone,
            announceExisting: row.announce
        )
        #expect(change == row.expected)
    }

    @Test("event types per change")
    func eventTypes() {
        #expect(Tracker.Change.unchanged.eventType == nil)
        #expect(Tracker.Change.baseline.eventType == nil)
        #expect(Tracker.Change.created.eventType?.rawValue == "compliance_application.created")
        #expect(
            Tracker.Change.statusChanged(from: "a", to: "b").eventType?.rawValue
                == "compliance_application.status_changed"
        )
        #expect(Tracker.Change.updated.eventType?.rawValue == "compliance_application.updated")
        #expect(Tracker.Change.deleted.eventType?.rawValue == "compliance_application.deleted")
    }

    @Test("hot statuses include unknown stored ones, never accepted")
    func hotStatuses() {
        let hot = Tracker.hotStatuses(stored: ["accepted", "Suspended", "draft", "expired"])
        #expect(hot.map(\.normalized) == ["draft", "submitted", "rejected", "expired", "suspended"])
    }

    @Test("event ids are stable, and distinct per salt, account, application, version and transition")
    func eventIds() {
        func id(
            salt: String = "s1",
            account: String = "MA1",
            app: String = "app",
            version: Int = 1,
            from: String? = "submitted",
            to: String = "accepted"
        ) -> String {
            Event.makeId(
                salt: salt,
                account: account,
                applicationId: app,
                version: version,
                transition: Event.transition(
                    type: EventType.statusChanged,
                    from: from.map { ApplicationStatus($0) },
                    to: ApplicationStatus(to)
                )
            )
        }
        let a = id()
        #expect(a == id())
        #expect(a != id(salt: "s2"))
        #expect(a != id(account: "MA2"))
        #expect(a != id(app: "app2"))
        #expect(a != id(version: 2))
        #expect(a != id(from: "rejected"))
        #expect(a != id(to: "rejected"))
        #expect(a != id(from: nil))
        #expect(a.hasPrefix("evt_"))
        #expect(a.count == 36)
    }

    @Test("test events say so in the body; real events carry no test key")
    func testFlag() throws {
        let app = EventApplication(ComplianceApplication(id: "a", status: .accepted))
        var event = Event(
            id: "evt_test_1",
            type: EventType.statusChanged,
            timestamp: "t",
            account: "MA1",
            data: .init(application: app, previous: nil, detectedAt: "t")
        )
        #expect(!String(decoding: event.canonicalJSON(), as: UTF8.self).contains("\"test\""))
        event.test = true
        #expect(String(decoding: event.canonicalJSON(), as: UTF8.self).contains("\"test\":true"))
        #expect(try Event.decode(event.canonicalJSON()).test == true)
    }

    @Test("an event read back sends the very bytes it was read from; a change to any field re-encodes it")
    func recordedBytes() throws {
        let app = EventApplication(ComplianceApplication(id: "a", alias: "x/y", status: .accepted))
        let event = Event(
            id: "evt_1",
            type: .created,
            timestamp: "t",
            account: "MA1",
            data: .init(application: app, previous: nil, detectedAt: "t")
        )
        // Canonical bytes with the keys spaced out: not what the encoder writes, but what was recorded.
        let spaced = Data(
            String(decoding: event.canonicalJSON(), as: UTF8.self).replacingOccurrences(of: ",\"", with: ", \"").utf8
        )
        var stored = try Event.decode(spaced)
        #expect(stored == event)
        #expect(stored.canonicalJSON() == spaced)
        stored.data.application.alias = "renamed"
        #expect(stored.canonicalJSON() != spaced)
        #expect(try Event.decode(stored.canonicalJSON()).data.application.alias == "renamed")
        var other = try Event.decode(spaced)
        other.test = true
        #expect(String(decoding: other.canonicalJSON(), as: UTF8.self).contains("\"test\":true"))
    }

    @Test("a store commit records the bytes its events carry", arguments: StoreBackend.allCases)
    func committedBytes(_ backend: StoreBackend) throws {
        let store = try backend.makeStore()
        let app = ComplianceApplication(id: "app-1", alias: "a", status: .submitted)
        let events = try store.commit(
            CycleOutcome(
                account: "MA1",
                observations: [.init(snapshot: .observed(app, account: "MA1", version: 0), change: .created)],
                deletions: [],
                fullSync: false,
                at: Date()
            ),
            sinks: [SinkRoute(name: "s", filter: EventFilter())]
        )
        let delivery = try #require(try store.deliveries(sink: "s").first)
        #expect(delivery.event.canonicalJSON() == events.first?.canonicalJSON())
    }

    @Test(
        "the status line's light summary counts what is pending as the full one does, and leaves applications uncounted",
        arguments: StoreBackend.allCases
    )
    func lightSummary(_ backend: StoreBackend) throws {
        let store = try backend.makeStore()
        let apps = (0..<5).map { ComplianceApplication(id: "app-\($0)", status: .submitted) }
        let events = try store.commit(
            CycleOutcome(
                account: "MA1",
                observations: apps.map { .init(snapshot: .observed($0, account: "MA1", version: 0), change: .created) },
                deletions: [],
                fullSync: false,
                at: Date()
            ),
            sinks: [SinkRoute(name: "a", filter: EventFilter()), SinkRoute(name: "b", filter: EventFilter())]
        )
        let seqs = try store.deliveries(sink: "a").map(\.eventSeq)
        try store.markDelivered(seqs.prefix(2).map { ($0, Date()) }, sink: "a")
        try store.markFailed(eventSeq: seqs[2], sink: "a", error: "HTTP 500", retryAt: Date())
        let full = try store.summary()
        let light = try store.summary(light: true)
        let pending = { (s: StatusSummary) in
            s.deliveries.filter { $0.state == .pending }.map { "\($0.sink)=\($0.count)" }
        }
        #expect(pending(light) == ["a=3", "b=5"])
        #expect(pending(light) == pending(full))
        #expect(light.deliveries.allSatisfy { $0.state == .pending })
        #expect(light.health == full.health)
        #expect(light.health.first?.retrying == 1)
        #expect(light.applicationsByStatus.isEmpty && full.applicationsByStatus.first?.count == 5)
        #expect(full.events == events.count)
    }
}
