import Foundation
import PlivoSandbox
import Testing
import WatchCore
import WatchDaemon
import WatchSinks
import WatchTesting

/// Two real daemons on one PostgreSQL database, each with its own audit file, over a sandbox.
struct FailoverRig {
    static let authId = "MAFAILOVER0000000000"
    let sandbox: SandboxServer
    let cluster: TestPostgres
    let url: String
    let fixtures: [DaemonFixture]
    let sockets: [FakeNotifySocket]
    var daemons: [Process] = []
    let ids: [String]

    init(cluster: TestPostgres, applications: Int) async throws {
        self.cluster = cluster
        sandbox = try await SandboxServer.start(.init(authId: Self.authId, authToken: "t", rateLimit: 0))
        let seeded = try await CurlTransportFactory.make().send(
            .init(
                method: .post,
                url: await sandbox.baseURL + "/_sandbox/seed",
                body: .data(
                    Data(#"{"count": \#(applications), "statuses": {"submitted": 1}}"#.utf8),
                    contentType: "application/json"
                )
            )
        )
        ids =
            ((try JSONSerialization.jsonObject(with: seeded.body) as? [String: Any])?["application_ids"] as? [String])
            ?? []
        url = try cluster.makeDatabase()
        var fixtures: [DaemonFixture] = []
        for _ in 0..<2 {
            fixtures.append(
                try DaemonFixture(
                    baseURL: await sandbox.baseURL,
                    accounts: [(nil, Self.authId, "t")],
                    state: "url = \"\(url)\"\npassword_file = \"\(cluster.passwordFile)\"",
                    extra: "[ha]\nlease = \"2s\"\n[audit]\nseal = false\n"
                )
            )
        }
        self.fixtures = fixtures
        sockets = try fixtures.map { _ in try FakeNotifySocket(abstract: true) }
    }

    /// Starts daemon `index` and waits until its notify socket says READY.
    mutating func start(_ index: Int) async throws {
        let process = try fixtures[index].launchNotifying(sockets[index])
        if daemons.count > index { daemons[index] = process } else { daemons.append(process) }
        #expect(await said(index) { $0 == "READY=1" })
    }

    /// Waits (`timeout` at most) until daemon `index` sent a notify line for which `line` holds,
    /// after `after` when given.
    func said(
        _ index: Int,
        after: ContinuousClock.Instant? = nil,
        within timeout: Duration = .seconds(15),
        _ line: @escaping (String) -> Bool
    ) async -> Bool {
        let socket = sockets[index]
        return await socket.wait(timeout) { _ in
            socket.all.contains { message in
                (after.map { message.at > $0 } ?? true)
                    && message.text.split(separator: "\n").contains { line(String($0)) }
            }
        }
    }

    /// A store for looking, as `status` opens it.
    func store() throws -> StateStore {
        var state = DaemonConfiguration.State(url: url, password: cluster.password)
        state.path = fixtures[0].statePath
        return try StoreOpener.open(state, use: .reading)
    }

    /// The lease as `status` reads it.
    func lease() throws -> LeaseStatus? { try LeaseStatus.read(try store(), lease: .seconds(2)) }

    func review(_ id: String, _ status: String) async throws {
        _ = try await CurlTransportFactory.make().send(
            .init(
                method: .post,
                url: await sandbox.baseURL + "/_sandbox/applications/\(id)/review",
                body: .data(Data(#"{"status":"\#(status)"}"#.utf8), contentType: "application/json")
            )
        )
    }

    /// Every event in both audit files: by id, and how many files each id is in.
    func delivered() throws -> [Event] {
        try fixtures.flatMap { try $0.auditEvents().events }
    }

    /// Each transition once: no application reaches one status under two event ids.
    static func checkNoTransitionTwice(_ events: [Event]) {
        var ids: [String: Set<String>] = [:]
        for event in events {
            ids[
                "\(event.data.application.complianceApplicationId) \(event.fromStatus?.rawValue ?? "-")→\(event.toStatus.rawValue)",
                default: []
            ].insert(event.id)
        }
        for (transition, set) in ids { #expect(set.count == 1, "\(transition) announced under \(set.sorted())") }
    }

    func stop() {
        for daemon in daemons where daemon.isRunning {
            kill(daemon.processIdentifier, SIGCONT)
            kill(daemon.processIdentifier, SIGKILL)
        }
        sandbox.stop()
    }
}

@Suite("Failover with real daemons on PostgreSQL", .serialized, .timeLimit(.minutes(3)))
struct FailoverTests {
    @Test(
        "SIGKILL the leader while applications change: the standby leads, every transition arrives, none under two ids, and the audit files verify together"
    )
    func killLeader() async throws {
        var rig = try await FailoverRig(cluster: try TestPostgres.shared, applications: 12)
        defer { rig.stop() }
        try await rig.start(0)
        #expect(
            try await eventually(within: 30) {
                try rig.lease()?.leader != nil && rig.store().pollState(account: FailoverRig.authId).baselineDone
            }
        )
        try await rig.start(1)
        #expect(await rig.said(1) { $0.hasPrefix("STATUS=standby; leader is ") })
        let first = try #require(try rig.lease())

        for id in rig.ids.prefix(6) { try await rig.review(id, "accepted") }
        // Written and recorded as delivered: none of these is in flight at the kill, so none may
        // be written again (a delivery in flight may: at least once).
        #expect(
            try await eventually(within: 30) { try rig.store().deliveries(sink: "audit", state: .delivered).count == 6 }
        )
        kill(rig.daemons[0].processIdentifier, SIGKILL)
        // Changes keep coming while nobody leads.
        for id in rig.ids.dropFirst(6) { try await rig.review(id, "rejected") }

        #expect(try await eventually(within: 30) { try rig.lease()?.token == first.token + 1 })
        #expect(
            await rig.said(1) { $0.hasPrefix("STATUS=leader (token \(first.token + 1))") },
            "\(rig.sockets[1].all.map(\.text).suffix(3))"
        )
        #expect(
            try await eventually(within: 30) {
                Set(try rig.delivered().map(\.data.application.complianceApplicationId)).count == 12
            }
        )
        let events = try rig.delivered()
        FailoverRig.checkNoTransitionTwice(events)
        #expect(
            Set(events.map(\.id)) == Set(try rig.store().events().map(\.id)),
            "every recorded event delivered, nothing else"
        )
        #expect(events.filter { $0.toStatus == "rejected" }.count == 6)

        let (code, out, _) = try await runCLI(["audit", "verify", rig.fixtures[1].auditPath, rig.fixtures[0].auditPath])
        #expect(code == 0, "\(out)")
        #expect(
            out.hasPrefix("OK: 12 lines, chain intact through seq 12\n"),
            "one line per transition, nothing written twice: \(out)"
        )
        let (_, status, _) = try await runCLI(["status", "--config", rig.fixtures[1].configPath])
        #expect(status.contains("leader: ") && status.contains("token \(first.token + 1)"), "\(status)")
    }

    @Test(
        "SIGSTOP the leader past its lease: the standby leads; after SIGCONT the old leader writes and delivers nothing and stands by"
    )
    func pausedLeader() async throws {
        var rig = try await FailoverRig(cluster: try TestPostgres.shared, applications: 6)
        defer { rig.stop() }
        try await rig.start(0)
        #expect(
            try await eventually(within: 30) { try rig.store().pollState(account: FailoverRig.authId).baselineDone }
        )
        try await rig.start(1)
        let first = try #require(try rig.lease())
        try await rig.review(rig.ids[0], "accepted")
        // Recorded as delivered, so not in flight when the leader stops: nobody sends it again.
        #expect(
            try await eventually(within: 30) { try rig.store().deliveries(sink: "audit", state: .delivered).count == 1 }
        )

        kill(rig.daemons[0].processIdentifier, SIGSTOP)
        #expect(try await eventually(within: 30) { try rig.lease()?.token == first.token + 1 })
        for id in rig.ids[1...2] { try await rig.review(id, "accepted") }
        #expect(try await eventually(within: 30) { try rig.fixtures[1].auditEvents().events.count == 2 })
        let before = try rig.fixtures[0].auditEvents().lines

        let resumed = ContinuousClock.now
        kill(rig.daemons[0].processIdentifier, SIGCONT)
        for id in rig.ids[3...5] { try await rig.review(id, "rejected") }
        #expect(try await eventually(within: 30) { try rig.fixtures[1].auditEvents().events.count == 5 })
        #expect(await rig.said(0, after: resumed, within: .seconds(60)) { $0.hasPrefix("STATUS=standby; leader is ") })
        #expect(try rig.fixtures[0].auditEvents().lines == before, "the old leader appended nothing after it resumed")
        #expect(try rig.lease()?.token == first.token + 1, "and did not take the lease back")
        let events = try rig.delivered()
        FailoverRig.checkNoTransitionTwice(events)
        #expect(Set(events.map(\.id)) == Set(try rig.store().events().map(\.id)))
        #expect(events.count == 6, "each event in one file only: \(events.map(\.id))")
    }

    @Test("PostgreSQL restarted under a running pair: both reconnect, and nothing is lost")
    func databaseRestart() async throws {
        let cluster = try TestPostgres.start()
        defer { try? cluster.stop() }
        var rig = try await FailoverRig(cluster: cluster, applications: 6)
        defer { rig.stop() }
        try await rig.start(0)
        #expect(
            try await eventually(within: 30) { try rig.store().pollState(account: FailoverRig.authId).baselineDone }
        )
        try await rig.start(1)
        try await rig.review(rig.ids[0], "accepted")
        #expect(try await eventually(within: 30) { try rig.delivered().count == 1 })

        try cluster.restart()
        for id in rig.ids.dropFirst() { try await rig.review(id, "accepted") }
        #expect(try await eventually(within: 45) { try rig.delivered().count == 6 })
        let events = try rig.delivered()
        FailoverRig.checkNoTransitionTwice(events)
        #expect(Set(events.map(\.id)) == Set(try rig.store().events().map(\.id)))
        let running = rig.daemons.filter(\.isRunning).count
        #expect(running == 2, "a database restart is an outage to ride out, not a reason to exit")
        #expect(try rig.lease()?.leader != nil)
    }
}
