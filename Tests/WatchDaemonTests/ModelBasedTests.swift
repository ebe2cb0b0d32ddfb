import Foundation
import PlivoCompliance
import PlivoSandbox
import Testing
import WatchTesting
import WatchCore

/// A seeded, replayable random walk: applications are created, submitted, reviewed, resubmitted,
/// deleted and made to vanish; the sandbox garbles answers in every way it can; the real daemon is
/// SIGKILLed and sent SIGHUP. A reference model of what truly happened says what the audit file
/// may and must contain.
///
/// Seeds: `CW_FUZZ_SEEDS=200` runs seeds 1…200; `CW_FUZZ_SEED=17` replays one. A failure prints
/// its seed and the operation log.
@Suite("Model-based random test", .serialized, .timeLimit(.minutes(10)))
struct ModelBasedTests {
    static var seeds: [UInt64] {
        let environment = ProcessInfo.processInfo.environment
        if let one = environment["CW_FUZZ_SEED"].flatMap(UInt64.init) { return [one] }
        if let count = environment["CW_FUZZ_SEEDS"].flatMap(UInt64.init), count > 0 { return Array(1...count) }
        return [1, 2, 3, 4, 5, 6]
    }

    @Test(
        "what arrives is what happened: every visible transition, none invented, no id twice, in order, chain intact",
        arguments: seeds
    )
    func randomWalk(seed: UInt64) async throws {
        var run = try await Walk(seed: seed)
        defer { run.tearDown() }
        do {
            try await run.play(operations: 45)
            try await run.settle()
        } catch {
            Issue.record("seed \(seed) failed to run: \(error)\n\(run.log.joined(separator: "\n"))")
            return
        }
        let problems = try run.check()
        if ProcessInfo.processInfo.environment["CW_FUZZ_VERBOSE"] != nil {
            print(
                "seed \(seed): \(try run.fixture.auditEvents().events.count) events\n\(run.log.joined(separator: "\n"))"
            )
        }
        #expect(
            problems.isEmpty,
            """
            seed \(seed): \(problems.count) problem(s); replay with CW_FUZZ_SEED=\(seed)
            \(problems.joined(separator: "\n"))
            operation log:
            \(run.log.joined(separator: "\n"))
            """
        )
    }
}

/// SplitMix64: small, fast, and the same sequence for the same seed everywhere.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed &* 0x9E37_79B9_7F4A_7C15 &+ 1 }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// What an application looks like to an observer: its status and, when rejected, the reason.
struct ObservableState: Hashable, CustomStringConvertible {
    var status: String
    var reason: String?
    static let deleted = ObservableState(status: "deleted", reason: nil)
    var description: String { reason.map { "\(status)(\($0))" } ?? status }
}

struct Walk {
    static let authId = "MAFUZZ00000000000000"
    static let faultMenu = [
        "{}", #"{"null_field_rate": 0.02}"#, #"{"hide_rate": 0.3}"#, #"{"html_404_rate": 0.5}"#,
        #"{"rate_500": 0.2}"#, #"{"rate_429": 0.2, "retry_after": "inf"}"#,
        #"{"rate_429": 0.2, "retry_after": "1e300"}"#,
        #"{"rate_429": 0.2, "retry_after": "-5"}"#, #"{"rate_429": 0.2, "retry_after": "nan"}"#,
        #"{"malformed_rate": 0.1}"#, #"{"truncate_rate": 0.1}"#, #"{"drop_rate": 0.1}"#,
        // Vanishing is an operation of its own (below), so the model knows when it happens.
    ]
    static let reasons = ["Address proof is older than 3 months", "Document is illegible", "Name does not match"]

    let seed: UInt64
    var random: SeededGenerator
    let sandbox: SandboxServer
    let client: PlivoClient
    let fixture: DaemonFixture
    var daemon: Process?
    var faults = "{}"
    var log: [String] = []
    /// Every state each application passed through, in order; a vanish adds an optional
    /// `deleted` followed by the state it comes back in.
    var history: [String: [ObservableState]] = [:]
    /// The state each application had when the daemon's silent baseline saw it.
    var baseline: [String: ObservableState] = [:]
    var userId = ""

    init(seed: UInt64) async throws {
        self.seed = seed
        random = SeededGenerator(seed: seed)
        sandbox = try await SandboxServer.start(.init(authId: Self.authId, authToken: "fuzz", rateLimit: 0))
        let base = await sandbox.baseURL
        client = PlivoClient(
            configuration: .init(authId: Self.authId, authToken: "fuzz", baseURL: base),
            transport: CurlTransportFactory.make()
        )
        fixture = try DaemonFixture(baseURL: base, authId: Self.authId, token: "fuzz")
    }

    func tearDown() {
        if let daemon, daemon.isRunning {
            kill(daemon.processIdentifier, SIGKILL)
        }
        sandbox.stop()
        try? FileManager.default.removeItem(at: fixture.directory)
    }

    // MARK: Driving

    mutating func play(operations: Int) async throws {
        userId = try await client.endUsers.create(name: "Fuzz", endUserType: "business").id
        for _ in 0..<4 { try await create() }
        for id in history.keys.sorted() where Bool.random(using: &random) { try await submit(id) }
        baseline = history.mapValues { $0.last! }
        try launch()
        guard try await fixture.waitForBaseline(account: Self.authId) else { throw CancellationError() }
        log.append(
            "baseline: "
                + baseline.sorted { $0.key < $1.key }.map { "\($0.key.prefix(8))=\($0.value)" }.joined(separator: " ")
        )

        for _ in 0..<operations {
            let live = history.filter { $0.value.last != .deleted }.keys.sorted()
            let pick = live.randomElement(using: &random)
            switch Int.random(in: 0..<100, using: &random) {
            case 0..<12: try await create()
            case 12..<30:
                if let id = live.filter({ ["draft", "rejected"].contains(history[$0]!.last!.status) }).randomElement(
                    using: &random
                ) {
                    try await submit(id)
                }
            case 30..<50:
                if let id = live.filter({ history[$0]!.last!.status == "submitted" }).randomElement(using: &random) {
                    try await review(id)
                }
            case 50..<55: if let pick { try await delete(pick) }
            case 55..<60: if let pick { try await vanish(pick) }
            case 60..<72: try await setFaults(Self.faultMenu.randomElement(using: &random)!)
            case 72..<78: try await restart()
            case 78..<84: reload()
            default: break
            }
            try await Task.sleep(for: .milliseconds(Int.random(in: 10...150, using: &random)))
        }
    }

    /// With the sandbox honest again, waits until the daemon has caught up with the model.
    mutating func settle() async throws {
        try await setFaults("{}")
        if daemon?.isRunning != true { try launch() }
        let expected = history.filter { $0.value.last != .deleted }.mapValues { $0.last! }
        for _ in 0..<300 {
            try await Task.sleep(for: .milliseconds(100))
            guard let store = try? StateStore.openReadOnly(path: fixture.statePath),
                let live = try? store.snapshots(account: Self.authId),
                (try? store.pendingCount()) == 0
            else { continue }
            let seen = live.mapValues {
                ObservableState(
                    status: $0.status.normalized,
                    reason: $0.status.normalized == "rejected" ? $0.rejectionReason : nil
                )
            }
            if seen == expected { break }
        }
        log.append("settled")
        if let daemon {
            kill(daemon.processIdentifier, SIGTERM)
            await exited(daemon)
        }
    }

    mutating func record(_ id: String, _ state: ObservableState) {
        history[id, default: []].append(state)
    }

    /// Mutations go to an honest sandbox: a dropped answer to a create would make an
    /// application the model does not know about.
    func honestly(_ body: () async throws -> Void) async throws {
        if faults != "{}" { try await control("/_sandbox/faults", "{}") }
        try await body()
        if faults != "{}" { try await control("/_sandbox/faults", faults) }
    }

    mutating func create() async throws {
        var created = ""
        try await honestly {
            created = try await client.applications.create(
                alias: "fuzz",
                endUserId: userId,
                documentIds: [],
                requirement: .lookup(countryISO2: "FR", numberType: "mobile", endUserType: "business")
            ).id
        }
        record(created, ObservableState(status: "draft"))
        log.append("create \(created.prefix(8))")
    }

    mutating func submit(_ id: String) async throws {
        try await honestly { _ = try await client.applications.submit(id) }
        record(id, ObservableState(status: "submitted"))
        log.append("submit \(id.prefix(8))")
    }

    mutating func review(_ id: String) async throws {
        let accept = Bool.random(using: &random)
        let reason = accept ? nil : Self.reasons.randomElement(using: &random)!
        let body = reason.map { #"{"status":"rejected","rejection_reason":"\#($0)"}"# } ?? #"{"status":"accepted"}"#
        try await control("/_sandbox/applications/\(id)/review", body)
        record(id, ObservableState(status: accept ? "accepted" : "rejected", reason: reason))
        log.append("review \(id.prefix(8)) \(accept ? "accepted" : "rejected: \(reason!)")")
    }

    mutating func delete(_ id: String) async throws {
        try await honestly { try await client.applications.delete(id) }
        record(id, .deleted)
        log.append("delete \(id.prefix(8))")
    }

    mutating func vanish(_ id: String) async throws {
        let seconds = Double(Int.random(in: 1...12, using: &random)) / 10
        try await control("/_sandbox/applications/\(id)/vanish", #"{"for_s": \#(seconds)}"#)
        let current = history[id]!.last!
        record(id, .deleted)
        record(id, current)
        log.append("vanish \(id.prefix(8)) for \(seconds)s")
    }

    mutating func setFaults(_ json: String) async throws {
        faults = json
        try await control("/_sandbox/faults", json)
        log.append("faults \(json)")
    }

    mutating func restart() async throws {
        if let daemon, daemon.isRunning {
            kill(daemon.processIdentifier, SIGKILL)
            await exited(daemon)
        }
        try launch()
        log.append("SIGKILL and restart")
    }

    mutating func reload() {
        guard let daemon, daemon.isRunning else { return }
        kill(daemon.processIdentifier, SIGHUP)
        log.append("SIGHUP")
    }

    mutating func launch() throws {
        daemon = try fixture.launch(["run"])
    }

    /// Waits for a process off the cooperative pool, which the in-process sandbox needs.
    func exited(_ process: Process) async {
        await withCheckedContinuation { continuation in
            Thread.detachNewThread {
                process.waitUntilExit()
                continuation.resume()
            }
        }
    }

    func control(_ path: String, _ body: String) async throws {
        let base = await sandbox.baseURL
        let response = try await CurlTransportFactory.make().send(
            .init(method: .post, url: base + path, body: .data(Data(body.utf8), contentType: "application/json"))
        )
        guard response.status < 300 else {
            throw PlivoError(kind: .api, status: response.status, message: "control \(path)")
        }
    }

    // MARK: Checking

    /// Everything wrong with what arrived, as sentences; empty when all is well.
    func check() throws -> [String] {
        var problems: [String] = []
        let (events, _) = try fixture.auditEvents()
        if Set(events.map(\.id)).count != events.count {
            problems.append("an event id was used for two different events")
        }

        let byApp = Dictionary(grouping: events) { $0.data.application.complianceApplicationId }
        for id in Set(byApp.keys).subtracting(history.keys) {
            problems.append("\(id): events for an application that never existed")
        }
        for (id, truth) in history.sorted(by: { $0.key < $1.key }) {
            let appEvents = byApp[id] ?? []
            var observed: [ObservableState] = []
            if let start = baseline[id] { observed.append(start) }
            var previousTo: ObservableState? = baseline[id]
            for event in appEvents {
                let from = event.data.previous.map {
                    ObservableState(
                        status: $0.status.normalized,
                        reason: $0.status.normalized == "rejected" ? $0.rejectionReason : nil
                    )
                }
                let to =
                    event.type == EventType.deleted
                    ? .deleted
                    : ObservableState(
                        status: event.toStatus.normalized,
                        reason: event.toStatus.normalized == "rejected" ? event.data.application.rejectionReason : nil
                    )
                if from != previousTo {
                    problems.append(
                        "\(id.prefix(8)): \(event.type) from \(from?.description ?? "nothing") does not follow \(previousTo?.description ?? "nothing")"
                    )
                }
                observed.append(to)
                previousTo = to
            }
            // None invented: what was seen happened, in that order.
            if !Self.isSubsequence(observed, of: truth) {
                problems.append("\(id.prefix(8)): saw \(observed) but the truth was \(truth)")
            }
            // Every visible transition arrives: the last thing seen is where it ended up.
            let final = truth.last!
            if observed.last != final, !(observed.isEmpty && final == .deleted) {
                problems.append(
                    "\(id.prefix(8)): ended as \(final) but the last event says \(observed.last?.description ?? "nothing")"
                )
            }
        }

        let store = try StateStore.openReadOnly(path: fixture.statePath)
        if Set(try store.events().map(\.id)) != Set(events.map(\.id)) {
            problems.append("the database and the audit file disagree")
        }
        if try store.pendingCount() != 0 { problems.append("deliveries still pending after settling") }

        let verify = Process()
        verify.executableURL = TestBinaries.complianceWatch
        verify.arguments = ["audit", "verify", fixture.auditPath, "--config", fixture.configPath]
        let output = Pipe()
        verify.standardOutput = output
        verify.standardError = output
        try verify.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        verify.waitUntilExit()
        if verify.terminationStatus != 0 { problems.append("audit verify: \(text)") }
        return problems
    }

    static func isSubsequence(_ small: [ObservableState], of big: [ObservableState]) -> Bool {
        var index = big.startIndex
        for item in small {
            guard let found = big[index...].firstIndex(of: item) else { return false }
            index = big.index(after: found)
        }
        return true
    }
}
