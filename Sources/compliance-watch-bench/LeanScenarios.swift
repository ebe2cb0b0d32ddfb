import CurlHTTP
import Foundation
import Logging
import PlivoCompliance
import WatchCore
import WatchSinks
import WatchTesting

/// The steady-state scenarios: what one hot cycle costs beside a naive list-everything cycle,
/// how the daemon's memory behaves over a long run, and instruction counts under callgrind.
extension Bench {
    /// A `plivo-sandbox` child process, so the bench process's CPU figures are the poller's alone.
    struct SandboxProcess {
        let process: Process
        let baseURL: String

        static func start(seed: Int = 0) throws -> SandboxProcess {
            let binary = sibling("plivo-sandbox")
            let process = Process()
            process.executableURL = binary
            process.arguments = ["--auth-id", authId, "--auth-token", token, "--rate-limit", "0", "--seed", "\(seed)"]
            let pipe = Pipe()
            process.standardOutput = pipe
            try process.run()
            var line = Data()
            while !line.contains(0x0A) {
                let chunk = pipe.fileHandleForReading.availableData
                if chunk.isEmpty { throw BenchError("plivo-sandbox exited before listening") }
                line.append(chunk)
            }
            let text = String(decoding: line, as: UTF8.self)
            guard let url = text.split(separator: "\n").first?.split(separator: " ").last else {
                throw BenchError("plivo-sandbox said: \(text)")
            }
            return SandboxProcess(process: process, baseURL: String(url))
        }

        func stop() {
            process.terminate()
            process.waitUntilExit()
        }
    }

    struct BenchError: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }

    static func sibling(_ name: String) -> URL {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent(name)
    }

    /// A new scratch directory with the sandbox's token in `token`, for daemons the bench starts;
    /// the caller removes it.
    static func scratchDirectory() throws -> URL {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("cw-bench-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try writeSecretFile(token, to: directory.appendingPathComponent("token").path)
        return directory
    }

    /// Writes `NAME.toml` in `directory` for a daemon polling the sandbox at `base` with that
    /// token: `plivo` holds more `[plivo]` keys, `tables` the other tables. - Returns: its path.
    static func daemonConfig(
        in directory: URL,
        name: String,
        base: String,
        plivo: String = "",
        tables: String
    ) throws -> String {
        let path = directory.appendingPathComponent("\(name).toml").path
        try """
        [plivo]
        auth_id = "\(authId)"
        auth_token_file = "token"
        base_url = "\(base)"
        \(plivo)
        \(tables)
        """.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// A sandbox child process seeded with `n` applications, `changeableShare` of them draft,
    /// submitted or rejected, and a transport for its control endpoints.
    static func seededSandbox(n: Int, changeableShare: Double) async throws -> (SandboxProcess, CurlTransport) {
        let sandbox = try SandboxProcess.start()
        let transport = CurlTransport()
        do {
            try await seedSteady(transport, sandbox.baseURL, n: n, changeableShare: changeableShare)
        } catch {
            sandbox.stop()
            throw error
        }
        return (sandbox, transport)
    }

    /// Seeds `n` applications with `changeable` of them draft, submitted or rejected.
    static func seedSteady(_ transport: CurlTransport, _ base: String, n: Int, changeableShare: Double) async throws {
        _ = try await control(
            transport,
            base + "/_sandbox/seed",
            """
            {"count": \(n), "statuses": {"accepted": \(1 - changeableShare), "submitted": \(changeableShare * 0.5), \
            "draft": \(changeableShare * 0.25), "rejected": \(changeableShare * 0.25)}}
            """
        )
    }

    static func selfCPU() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(
            usage.ru_utime.tv_usec + usage.ru_stime.tv_usec
        ) / 1e6
    }

    static func steadyPoller(_ base: String, store: StateStore) -> Poller {
        Poller(
            source: client(base, concurrency: 4),
            store: store,
            bucket: TokenBucket(rate: 10_000, burst: 4),
            settings: .init(
                concurrency: 4,
                maxAttempts: 5,
                backoff: Backoff(base: .milliseconds(100), cap: .seconds(5)),
                announceExisting: false
            ),
            sinks: [SinkRoute(name: "audit", filter: EventFilter())]
        )
    }

    struct CycleCost {
        var ours: Double, oursWall: Double, oursRequests: Double
        var naive: Double, naiveWall: Double, naiveRequests: Double
    }

    /// CPU per hot cycle of ours and of a naive cycle (list every page, diff in memory), over
    /// the same sandbox, with `transitions` reviews before each cycle of either.
    static func cycleCost(n: Int, changeableShare: Double, cycles: Int, transitions: Int) async throws -> CycleCost {
        let (sandbox, transport) = try await seededSandbox(n: n, changeableShare: changeableShare)
        defer { sandbox.stop() }
        let base = sandbox.baseURL
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("cw-bench-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try StateStore.open(path: directory.appendingPathComponent("state.db").path)
        let poller = steadyPoller(base, store: store)
        _ = try await poller.runCycle(full: true, logger: quiet)
        let c = client(base, concurrency: 4)

        /// Moves `transitions` applications on: submitted ones are decided, and as many accepted
        /// ones are withdrawn to draft, so the changeable share stays where it was.
        func inject() async throws {
            let submitted = try await c.applications.list(filter: .init(status: .submitted), limit: transitions)
            for app in submitted.objects {
                _ = try await control(
                    transport,
                    base + "/_sandbox/applications/\(app.id)/review",
                    #"{"status": "accepted"}"#
                )
            }
        }

        var ours: [(cpu: Double, wall: Double, requests: Int)] = []
        _ = try await poller.runCycle(full: false, logger: quiet)  // warm caches
        for _ in 0..<cycles {
            try await inject()
            let (cpu0, wall0) = (selfCPU(), ContinuousClock.now)
            let report = try await poller.runCycle(full: false, logger: quiet)
            ours.append((selfCPU() - cpu0, seconds(ContinuousClock.now - wall0), report.requests))
        }

        // The naive cycle: every page, every object decoded, diffed against the last cycle in memory.
        struct Seen: Equatable {
            var status: ApplicationStatus
            var reason: String?
            var documents: [String]
        }
        var previous: [String: Seen] = [:]
        func naiveCycle() async throws -> (requests: Int, changes: Int) {
            let requests = RequestTally()
            let pages = PageSequence<ComplianceApplication> { limit, offset async throws(PlivoError) in
                requests.add()
                return try await c.applications.list(limit: limit, offset: offset)
            }
            let all = try await pages.collectPages(concurrency: 4) { $0.objects }.flatMap { $0 }
            var current: [String: Seen] = [:]
            var changes = 0
            for app in all {
                let seen = Seen(
                    status: app.status,
                    reason: app.rejectionReason,
                    documents: app.documents.map(\.documentId).sorted()
                )
                if previous[app.id] != seen { changes += 1 }
                current[app.id] = seen
            }
            changes += previous.keys.filter { current[$0] == nil }.count
            previous = current
            return (requests.value, changes)
        }
        _ = try await naiveCycle()
        var naive: [(cpu: Double, wall: Double, requests: Int)] = []
        for _ in 0..<cycles {
            try await inject()
            let (cpu0, wall0) = (selfCPU(), ContinuousClock.now)
            let result = try await naiveCycle()
            naive.append((selfCPU() - cpu0, seconds(ContinuousClock.now - wall0), result.requests))
        }
        // Medians: a cycle that meets a WAL checkpoint or a descheduling on a loaded 2-core
        // machine says little about the next one.
        let median = { (values: [Double]) in percentile(values, 0.5) }
        return CycleCost(
            ours: median(ours.map(\.cpu)),
            oursWall: median(ours.map(\.wall)),
            oursRequests: median(ours.map { Double($0.requests) }),
            naive: median(naive.map(\.cpu)),
            naiveWall: median(naive.map(\.wall)),
            naiveRequests: median(naive.map { Double($0.requests) })
        )
    }

    final class RequestTally: @unchecked Sendable {
        private let lock = NSLock()
        private var count = 0
        func add() { lock.withLock { count += 1 } }
        var value: Int { lock.withLock { count } }
    }

    /// A real daemon polling `n` applications every second for `duration`: RSS sampled every 5 s
    /// after a warm-up, its least-squares slope, and the daemon's CPU per cycle from /proc.
    /// `binary` is the daemon to run (the dynamic release build beside the bench by default);
    /// `capture`, when given, runs on the daemon's pid at the end of the run, before it stops,
    /// and what it returns is merged into the result.
    static func steadyRun(
        n: Int,
        changeableShare: Double,
        duration: Duration,
        warmup: Duration,
        binary: URL = sibling("compliance-watch"),
        capture: (@Sendable (Int32) -> [String: Any])? = nil
    ) async throws -> [String: Any] {
        let (sandbox, transport) = try await seededSandbox(n: n, changeableShare: changeableShare)
        defer { sandbox.stop() }
        let base = sandbox.baseURL
        let directory = try scratchDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let port = try LocalPorts.free()
        let config = try daemonConfig(
            in: directory,
            name: "steady",
            base: base,
            plivo: "max_requests_per_second = 50",
            tables: """
                [poll]
                interval = "1s"
                jitter = 0
                [state]
                path = "steady.db"
                [log]
                level = "error"
                [metrics]
                listen = "127.0.0.1:\(port)"
                [[sinks]]
                name = "audit"
                type = "file"
                path = "audit.jsonl"
                """
        )
        let daemon = try run(binary, ["run", "--config", config])
        defer {
            kill(daemon.processIdentifier, SIGTERM)
            daemon.waitUntilExit()
        }
        let metrics = "http://127.0.0.1:\(port)/metrics"
        func cycles() async -> Double {
            guard let response = try? await transport.send(HTTPRequest(url: metrics)) else { return 0 }
            return String(decoding: response.body, as: UTF8.self).split(separator: "\n")
                .filter { $0.hasPrefix("compliance_watch_poll_cycles_total{") }
                .compactMap { $0.split(separator: " ").last.flatMap { Double($0) } }.reduce(0, +)
        }
        try await Task.sleep(for: warmup)
        let (cpuStart, cyclesStart) = (ProcStat.cpuSeconds(of: daemon.processIdentifier), await cycles())
        let samples = try await sampleRSS(
            daemon.processIdentifier,
            duration: duration,
            base: base,
            transport: transport
        )
        let cpu = ProcStat.cpuSeconds(of: daemon.processIdentifier) - cpuStart
        let cycleCount = await cycles() - cyclesStart
        let extra = capture?(daemon.processIdentifier) ?? [:]
        return rssSummary(
            samples,
            n: n,
            duration: duration,
            cycles: cycleCount,
            cpu: cpu,
            pid: daemon.processIdentifier
        )
        .merging(extra) { a, _ in a }
    }

    /// RSS of `pid` every 5 s for `duration`, with one review decided in the sandbox every 5 s
    /// (events keep flowing; the list changes under a naive poller).
    static func sampleRSS(
        _ pid: Int32,
        duration: Duration,
        base: String,
        transport: CurlTransport
    ) async throws -> [(t: Double, mib: Double)] {
        let c = client(base, concurrency: 1)
        let t0 = ContinuousClock.now
        var samples: [(t: Double, mib: Double)] = []
        while ContinuousClock.now - t0 < duration {
            samples.append((seconds(ContinuousClock.now - t0), rss(pid)))
            // One decision every 5 s keeps events flowing to the audit file.
            if let app = try await c.applications.list(filter: .init(status: .submitted), limit: 1).objects.first {
                _ = try await control(
                    transport,
                    base + "/_sandbox/applications/\(app.id)/review",
                    #"{"status": "accepted"}"#
                )
            }
            try await Task.sleep(for: .seconds(5))
        }
        return samples
    }

    static func rssSummary(
        _ samples: [(t: Double, mib: Double)],
        n: Int,
        duration: Duration,
        cycles cycleCount: Double,
        cpu: Double,
        pid: Int32
    ) -> [String: Any] {
        let mean = samples.map(\.mib).reduce(0, +) / Double(max(samples.count, 1))
        return [
            "n": n, "duration_s": seconds(duration), "rss_mean_mib": mean, "rss_max_mib": samples.map(\.mib).max() ?? 0,
            "rss_first_mib": samples.first?.mib ?? 0, "rss_last_mib": samples.last?.mib ?? 0,
            "rss_slope_mib_per_min": slope(samples) * 60, "cycles": cycleCount,
            "daemon_cpu_ms_per_cycle": cycleCount > 0 ? cpu / cycleCount * 1000 : 0,
            "smaps": smapsRollup(pid),
        ]
    }

    /// Least-squares slope of y over t.
    static func slope(_ samples: [(t: Double, mib: Double)]) -> Double {
        guard samples.count > 1 else { return 0 }
        let n = Double(samples.count)
        let mt = samples.map(\.t).reduce(0, +) / n, my = samples.map(\.mib).reduce(0, +) / n
        let num = samples.map { ($0.t - mt) * ($0.mib - my) }.reduce(0, +)
        let den = samples.map { ($0.t - mt) * ($0.t - mt) }.reduce(0, +)
        return den == 0 ? 0 : num / den
    }

    /// Resident memory by kind (anonymous, file-backed), from /proc/PID/smaps_rollup, in MiB.
    static func smapsRollup(_ pid: Int32) -> [String: Double] {
        guard let text = readProcFile("/proc/\(pid)/smaps_rollup") else { return [:] }
        var result: [String: Double] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ", omittingEmptySubsequences: true)
            guard parts.count >= 2, let kb = Double(parts[1]) else { continue }
            let key = String(parts[0].dropLast())
            if ["Rss", "Anonymous", "Shared_Clean", "Private_Clean", "Private_Dirty"].contains(key) {
                result[key] = kb / 1024
            }
        }
        return result
    }

    /// Resident memory of a process by mapping (library or [heap], [stack], anon), largest first.
    static func rssByMapping(_ pid: Int32) -> [(String, Double)] {
        guard let text = readProcFile("/proc/\(pid)/smaps") else { return [] }
        var totals: [String: Double] = [:]
        var current = "anon"
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ", omittingEmptySubsequences: true)
            if parts.first?.contains("-") == true, parts.count >= 5,
                parts[0].contains(where: { $0.isHexDigit }) && !parts[0].hasSuffix(":")
            {
                current =
                    parts.count >= 6
                    ? String(parts[5...].joined(separator: " ").split(separator: "/").last ?? "anon") : "anon"
            } else if parts.first == "Rss:", parts.count >= 2, let kb = Double(parts[1]) {
                totals[current, default: 0] += kb / 1024
            }
        }
        return totals.sorted { $0.value > $1.value }
    }
}
