import CurlHTTP
import Foundation
import PlivoCompliance
import PlivoSandbox
import WatchCore
import WatchSinks
import WatchTesting

/// The PostgreSQL store beside SQLite, and failover with real daemons (`BENCH_SCENARIOS=postgres`).
extension Bench {
    /// A fresh store of each kind: SQLite in a file in `directory` (as the daemon runs it),
    /// PostgreSQL in a new database of the throwaway cluster.
    static func benchStore(_ kind: StoreBackend, in directory: URL) throws -> StateStore {
        switch kind {
        case .sqlite:
            return try StateStore.open(path: directory.appendingPathComponent("state.db").path)
        case .postgres:
            return try StoreBackend.postgres.makeStore()
        }
    }

    /// Median wall time of a hot cycle (N applications, `changeableShare` changeable, 3
    /// transitions each cycle), and of the first full sync, on `kind`.
    static func storeCycle(
        _ kind: StoreBackend,
        n: Int,
        changeableShare: Double,
        cycles: Int
    ) async throws -> [String: Any] {
        let sandbox = try await SandboxServer.start(.init(authId: authId, authToken: token, rateLimit: 0))
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("cw-bench-\(UUID().uuidString)")
        defer {
            sandbox.stop()
            try? FileManager.default.removeItem(at: directory)
        }
        let transport = CurlTransport()
        let base = await sandbox.baseURL
        _ = try await control(
            transport,
            base + "/_sandbox/seed",
            #"{"count": \#(n), "statuses": {"accepted": \#(1 - changeableShare), "submitted": \#(changeableShare)}}"#
        )
        let poller = Poller(
            source: client(base, concurrency: 4),
            store: try benchStore(kind, in: directory),
            bucket: TokenBucket(rate: 1000, burst: 4),
            settings: .init(
                concurrency: 4,
                maxAttempts: 5,
                backoff: Backoff(base: .milliseconds(100), cap: .seconds(5)),
                announceExisting: false
            ),
            sinks: [SinkRoute(name: "s", filter: EventFilter())]
        )
        let syncStart = ContinuousClock.now
        _ = try await poller.runCycle(full: true, logger: quiet)
        let sync = seconds(ContinuousClock.now - syncStart)
        let c = client(base, concurrency: 4)
        var walls: [Double] = []
        for _ in 0..<cycles {
            for app in try await c.applications.list(filter: .init(status: .submitted), limit: 3).objects {
                _ = try await control(
                    transport,
                    base + "/_sandbox/applications/\(app.id)/review",
                    #"{"status": "accepted"}"#
                )
            }
            let start = ContinuousClock.now
            _ = try await poller.runCycle(full: false, logger: quiet)
            walls.append(seconds(ContinuousClock.now - start))
        }
        return [
            "store": kind.rawValue, "n": n, "full_sync_s": sync, "hot_cycle_ms_p50": percentile(walls, 0.5) * 1000,
            "hot_cycle_ms_p90": percentile(walls, 0.9) * 1000,
        ]
    }

    /// Failover time with real daemons: two instances on one database, the leader SIGKILLed,
    /// then one application decided; the time from the kill to that event's arrival at the
    /// receiver, from the new leader. `runs` times; every sample is returned.
    static func failoverTimes(lease: Duration, interval: Duration, runs: Int) async throws -> [Double] {
        let cluster = try TestPostgres.shared
        let (sandbox, base, transport, ids, receiver) = try await submittedWithReceiver(runs)
        defer {
            sandbox.stop()
            receiver.task.cancel()
        }
        let url = try cluster.makeDatabase()
        let directory = try scratchDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        func config(_ name: String) throws -> String {
            try daemonConfig(
                in: directory,
                name: name,
                base: base,
                tables: """
                    [poll]
                    interval = "\(DaemonConfiguration.formatDuration(interval))"
                    [state]
                    url = "\(url)"
                    password_file = "\(cluster.passwordFile)"
                    [ha]
                    lease = "\(DaemonConfiguration.formatDuration(lease))"
                    [audit]
                    seal = false
                    [log]
                    level = "error"
                    [[sinks]]
                    name = "hook"
                    type = "webhook"
                    url = "\(receiver.url)"
                    """
            )
        }
        let configs = [try config("one"), try config("two")]
        var daemons = [try run(sibling("compliance-watch"), ["run", "--config", configs[0]])]
        defer { daemons.forEach { kill($0.processIdentifier, SIGKILL) } }
        // The first leads once it has its baseline.
        let reader = try cluster.store(url: url)
        while (try? reader.pollState(account: authId).baselineDone) != true {
            try await Task.sleep(for: .milliseconds(50))
        }
        daemons.append(try run(sibling("compliance-watch"), ["run", "--config", configs[1]]))
        var samples: [Double] = []
        var leader = 0
        for id in ids {
            try await Task.sleep(for: .seconds(2))  // the standby is up and standing by
            kill(daemons[leader].processIdentifier, SIGKILL)
            let killed = Date()
            _ = try await control(transport, base + "/_sandbox/applications/\(id)/review", #"{"status": "accepted"}"#)
            while receiver.arrival(of: id) == nil { try await Task.sleep(for: .milliseconds(5)) }
            samples.append(receiver.arrival(of: id)!.timeIntervalSince(killed))
            // The killed one comes back as the standby for the next round.
            daemons[leader] = try run(sibling("compliance-watch"), ["run", "--config", configs[leader]])
            leader = 1 - leader
        }
        return samples
    }
}
