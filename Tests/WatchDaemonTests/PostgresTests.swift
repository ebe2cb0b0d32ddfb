import Foundation
import PlivoCompliance
import Testing
import Logging
import WatchCore
import WatchDaemon
import WatchPostgres
import WatchTesting

@Suite("PostgreSQL store and lease", .timeLimit(.minutes(2)))
struct PostgresTests {
    /// Two daemon-side handles on one fresh database, as two hosts would have.
    static func twoInstances(lease: Duration = .seconds(1)) throws -> (PostgresLease, PostgresLease) {
        let cluster = try TestPostgres.shared
        let location = try PostgresLocation(parsing: try cluster.makeDatabase())
        func handle(_ name: String) throws -> PostgresLease {
            let database = try PostgresDatabase(
                location: location,
                password: cluster.password,
                fenced: true,
                logger: .quiet
            )
            try database.migrate()
            return PostgresLease(
                database: database,
                instance: .init(id: "host-\(name)/1/x", host: "host-\(name)", pid: 1),
                duration: lease
            )
        }
        return (try handle("a"), try handle("b"))
    }

    static func outcome(_ id: String, _ status: ApplicationStatus) -> CycleOutcome {
        let app = ComplianceApplication(id: id, alias: id, status: status)
        return CycleOutcome(
            account: "MA1",
            observations: [.init(snapshot: .observed(app, account: "MA1", version: 0), change: .created)],
            deletions: [],
            fullSync: false,
            at: Date()
        )
    }

    @Test("a standby writes nothing; a leader whose lease another instance took commits nothing and cannot renew")
    func fencing() async throws {
        let (a, b) = try Self.twoInstances()
        let storeA = StateStore(database: a.database), storeB = StateStore(database: b.database)
        let sinks = [SinkRoute(name: "s", filter: EventFilter())]

        #expect(throws: PostgresDatabase.Fenced.self) {
            try storeA.commit(Self.outcome("before", .submitted), sinks: sinks)
        }

        let first = try #require(try a.acquire())
        #expect(try b.acquire() == nil, "held and unexpired")
        a.database.fence.lead(.init(instance: a.instance.id, token: first))
        #expect(try storeA.commit(Self.outcome("app-1", .submitted), sinks: sinks).count == 1)

        // A stops renewing (paused); once the lease has run out by the database's clock, B takes it.
        var second: Int64?
        for _ in 0..<100 where second == nil {
            try await Task.sleep(for: .milliseconds(50))
            second = try b.acquire()
        }
        let token = try #require(second)
        #expect(token == first + 1, "every takeover raises the token")
        b.database.fence.lead(.init(instance: b.instance.id, token: token))

        #expect(throws: PostgresDatabase.Fenced.self) {
            try storeA.commit(Self.outcome("app-2", .submitted), sinks: sinks)
        }
        #expect(throws: PostgresDatabase.Fenced.self) { try storeA.markDelivered(eventSeq: 1, sink: "s", at: Date()) }
        #expect(try a.renew(token: first) == false)
        #expect(
            try storeB.events().map(\.data.application.complianceApplicationId) == ["app-1"],
            "nothing of the fenced leader's"
        )
        #expect(
            try storeB.deliveries(sink: "s", state: .pending).count == 1,
            "still pending: the fenced mark was refused"
        )

        #expect(try storeB.commit(Self.outcome("app-3", .submitted), sinks: sinks).count == 1)
        #expect(try b.renew(token: token))
        let holder = try #require(try b.holder())
        #expect(holder.instance == b.instance.id && holder.token == token && holder.host == "host-b")
    }

    @Test("a released lease is taken at once, and members are listed by role")
    func releaseAndMembers() throws {
        let (a, b) = try Self.twoInstances(lease: .seconds(30))
        let token = try #require(try a.acquire())
        try a.announce(role: "leader")
        try b.announce(role: "standby")
        #expect(try b.acquire() == nil)
        try a.release(token: token)
        #expect(try b.acquire() == token + 1, "no wait for the 30 s lease")
        #expect(
            try a.members(within: .seconds(30)).map { "\($0.host) \($0.role)" } == ["host-a leader", "host-b standby"]
        )
    }

    @Test("an operator's command writes without a lease; the daemon's store does not")
    func commandsAreNotFenced() throws {
        let cluster = try TestPostgres.shared
        let url = try cluster.makeDatabase()
        var state = DaemonConfiguration.State(url: url, password: cluster.password)
        state.path = "/nonexistent/unused.db"
        let command = try StoreOpener.open(state, use: .command, logger: .quiet)
        try command.recordPollFailure(account: "MA1", error: "x", at: Date())
        let daemon = try StoreOpener.open(state, use: .daemon, logger: .quiet)
        #expect(throws: PostgresDatabase.Fenced.self) {
            try daemon.recordPollFailure(account: "MA1", error: "y", at: Date())
        }
        #expect(try daemon.pollState(account: "MA1").lastError == "x", "reads need no lease")
    }

    @Test("a wrong password, an unknown database and a closed port are errors that name the URL, never a password")
    func connectionErrors() throws {
        let cluster = try TestPostgres.shared
        for (url, password) in [
            (cluster.url(database: "postgres"), "wrong-password-s3cr3t"),
            (cluster.url(database: "no_such_database"), cluster.password),
            ("postgresql://cw@127.0.0.1:\(try LocalPorts.free())/postgres?sslmode=disable", cluster.password),
        ] {
            let state = DaemonConfiguration.State(url: url, password: password)
            do {
                _ = try StoreOpener.open(state, use: .command, logger: .quiet)
                Issue.record("opened \(url)")
            } catch {
                #expect(error.description.contains("127.0.0.1"), "\(error)")
                #expect(!error.description.contains(password), "\(error)")
            }
        }
    }

    @Test("sslmode: prefer falls back to plain TCP on a server without TLS; require refuses it")
    func sslModes() throws {
        let cluster = try TestPostgres.shared
        let url = try cluster.makeDatabase()
        let prefer = DaemonConfiguration.State(
            url: url.replacingOccurrences(of: "sslmode=disable", with: "sslmode=prefer"),
            password: cluster.password
        )
        #expect(try StoreOpener.open(prefer, use: .command, logger: .quiet).appliedMigrations().contains("v9-ha-lease"))
        let require = DaemonConfiguration.State(
            url: url.replacingOccurrences(of: "sslmode=disable", with: "sslmode=require"),
            password: cluster.password
        )
        #expect(throws: StoreError.self) { try StoreOpener.open(require, use: .command, logger: .quiet) }
    }

    @Test(
        "URLs: user, host, port, database and sslmode; a password in the URL is refused",
        arguments: [
            (
                "postgresql://cw@db.example:6543/state?sslmode=verify-full",
                "postgresql://cw@db.example:6543/state?sslmode=verify-full"
            ),
            ("postgres://cw@10.0.0.5/state", "postgresql://cw@10.0.0.5:5432/state?sslmode=prefer"),
            ("postgresql://cw@[::1]:5433/state?sslmode=disable", "postgresql://cw@[::1]:5433/state?sslmode=disable"),
            ("postgresql://c%40w@host/st%20ate", "postgresql://c@w@host:5432/st ate?sslmode=prefer"),
        ]
    )
    func urls(_ text: String, _ normalised: String) throws {
        #expect(try PostgresLocation(parsing: text).description == normalised)
    }

    @Test(
        "bad URLs say why",
        arguments: [
            ("mysql://cw@host/db", "must start with postgresql://"),
            ("postgresql://cw:hunter2@host/db", "a password does not belong in the URL"),
            ("postgresql://cw@host/db?password=hunter2", "a password does not belong in the URL"),
            ("postgresql://host/db", "names no user"),
            ("postgresql://cw@host", "names no database"),
            ("postgresql://cw@host:99999/db", "is not 1…65535"),
            ("postgresql://cw@host/db?sslmode=allow", "sslmode 'allow' is not"),
            ("postgresql://cw@host/db?application_name=x", "unknown parameter"),
        ]
    )
    func badURLs(_ text: String, _ reason: String) {
        let problem = PostgresLocation.check(text)
        #expect(problem?.contains(reason) == true, "\(problem ?? "accepted")")
        #expect(problem?.contains("hunter2") != true)
    }

    @Test("PGPASSFILE: the first matching line, with * and escapes")
    func passwordFile() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("pgpass-\(UUID().uuidString)").path
        try """
        # comment
        other:5432:state:cw:not-this-one
        db.example:*:state:cw:pa\\:ss\\\\word
        *:*:*:*:fallback
        """.write(toFile: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: file) }
        let location = try PostgresLocation(parsing: "postgresql://cw@db.example:6543/state")
        #expect(location.passwordFromFile(environment: ["PGPASSFILE": file]) == #"pa:ss\word"#)
        #expect(
            try PostgresLocation(parsing: "postgresql://x@y/z").passwordFromFile(environment: ["PGPASSFILE": file])
                == "fallback"
        )
        #expect(location.passwordFromFile(environment: ["PGPASSFILE": file + ".missing"]) == nil)
    }

    @Test("[state]: path and url exclude each other; a password needs a url; a shared store needs one sealing seed")
    func configuration() throws {
        func problems(_ text: String) -> [String] {
            do {
                _ = try DaemonConfiguration.parse(
                    text: "[plivo]\nauth_id = \"MA1\"\n" + text,
                    path: "/etc/cw/t.toml",
                    environment: ["PLIVO_AUTH_TOKEN": "t"]
                )
                return []
            } catch {
                return error.problems.map(\.description)
            }
        }
        #expect(
            problems("[state]\npath = \"s.db\"\nurl = \"postgresql://cw@h/d\"\n[audit]\nseal = false\n").contains {
                $0.contains("state.url: set only one of path (SQLite) and url (PostgreSQL)")
            }
        )
        #expect(
            problems("[state]\npassword_file = \"p\"\n").contains {
                $0.contains("state.password_file: only used with url")
            }
        )
        #expect(
            problems("[state]\nurl = \"postgresql://cw@h/d\"\n").contains {
                $0.contains("audit.seal: with [state] url every instance must seal with the same seed")
            }
        )
        #expect(
            problems("[state]\nurl = \"postgresql://cw@h/d\"\n[audit]\nseal = false\n[ha]\nlease = \"5s\"\n").isEmpty
        )
        #expect(problems("[ha]\nlease = \"10ms\"\n").contains { $0.contains("ha.lease") })
    }
}
