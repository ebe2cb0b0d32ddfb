import Foundation
import PlivoSandbox
import Synchronization
import Testing
import WatchTesting

@Suite("systemd integration with a real daemon process", .serialized, .timeLimit(.minutes(2)))
struct SystemdTests {
    static let token = "notify-s3cr3t-token-value"

    func launch(
        _ fixture: DaemonFixture,
        socket: FakeNotifySocket,
        extraEnvironment: [String: String] = [:],
        arguments: [String] = ["run"]
    ) throws -> (Process, Pipe) {
        let process = Process()
        process.executableURL = TestBinaries.complianceWatch
        process.arguments =
            arguments + ["--config", fixture.configPath, "--log-format", "text", "--log-level", "debug"]
        var environment = ProcessInfo.processInfo.environment
        environment["NOTIFY_SOCKET"] = socket.environmentValue
        for (key, value) in extraEnvironment { environment[key] = value }
        process.environment = environment
        let stderr = Pipe()
        process.standardError = stderr
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        return (process, stderr)
    }

    /// SIGTERM: a clean exit with STOPPING=1, and the status line never flips back after it.
    func stopAndCheck(_ process: Process, _ socket: FakeNotifySocket) throws {
        kill(process.processIdentifier, SIGTERM)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        #expect(socket.count("STOPPING=1") >= 1)
        let firstStopping = try #require(socket.all.firstIndex { $0.text.contains("STOPPING=1") })
        let after = socket.all[(firstStopping + 1)...].filter {
            $0.text.contains("STATUS=") && $0.text.contains("tracking")
        }
        #expect(after.isEmpty, "the status line never flips back after STOPPING=1: \(after.map(\.text))")
    }

    /// A sandbox for `authId` and a fixture over it; stop the sandbox when done.
    func sandboxAndFixture(_ authId: String) async throws -> (SandboxServer, DaemonFixture) {
        let sandbox = try await SandboxServer.start(.init(authId: authId, authToken: Self.token, rateLimit: 0))
        return (sandbox, try DaemonFixture(baseURL: await sandbox.baseURL, authId: authId, token: Self.token))
    }

    @Test(
        "READY, STATUS, watchdog cadence, reload good and bad, watchdog stops while stuck, STOPPING; no secret logged"
    )
    func lifecycle() async throws {
        let (sandbox, fixture) = try await sandboxAndFixture("MANOTIFY000000000000")
        defer { sandbox.stop() }
        await sandbox.seed(count: 30)
        let socket = try FakeNotifySocket(abstract: false)
        let (process, stderr) = try launch(fixture, socket: socket, extraEnvironment: ["WATCHDOG_USEC": "1000000"])
        defer { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
        var log = Data()
        let logLock = Mutex(Data())
        Thread { logLock.withLock { $0 = stderr.fileHandleForReading.readDataToEndOfFile() } }.start()

        #expect(await socket.wait { $0.contains { $0.split(separator: "\n").contains("READY=1") } }, "READY=1")
        #expect(
            await socket.wait { $0.contains { $0.contains("STATUS=") && $0.contains("tracking 30 applications") } },
            "STATUS with a count"
        )
        #expect(await socket.wait { _ in socket.count("WATCHDOG=1") >= 4 }, "WATCHDOG=1 keeps coming")
        let pings = socket.all.filter { $0.text == "WATCHDOG=1" }.map(\.at)
        let gaps = zip(pings.dropFirst(), pings).map { $0 - $1 }
        // Half of WATCHDOG_USEC (500 ms): never faster than that; typically right on it (the median
        // allows for a loaded CI machine delaying a tick).
        #expect(gaps.allSatisfy { $0 > .milliseconds(400) }, "never faster than WATCHDOG_USEC/2: \(gaps)")
        let median = gaps.sorted()[gaps.count / 2]
        #expect(median < .milliseconds(1000), "about every WATCHDOG_USEC/2: \(gaps)")

        // Reload with a good file: RELOADING=1 (with MONOTONIC_USEC), then READY=1 again.
        let readyBefore = socket.count("READY=1")
        kill(process.processIdentifier, SIGHUP)
        #expect(await socket.wait { _ in socket.count("READY=1") > readyBefore })
        let reloading = try #require(socket.all.first { $0.text.hasPrefix("RELOADING=1") })
        #expect(reloading.text.contains("MONOTONIC_USEC="))

        // Reload with a broken file: refused, still READY, and STATUS says so.
        let good = try String(contentsOfFile: fixture.configPath, encoding: .utf8)
        try (good + "\nbogus_key = 1\n").write(toFile: fixture.configPath, atomically: true, encoding: .utf8)
        let readyBeforeBad = socket.count("READY=1")
        kill(process.processIdentifier, SIGHUP)
        #expect(await socket.wait { _ in socket.count("READY=1") > readyBeforeBad })
        let refused = try #require(socket.all.last { $0.text.contains("READY=1") }?.text)
        #expect(refused.contains("reload refused ("), "the status line says why: \(refused)")
        #expect(refused.contains("bogus_key: unknown key"), "\(refused)")
        #expect(process.isRunning)
        try good.write(toFile: fixture.configPath, atomically: true, encoding: .utf8)

        // A stuck loop (the API hangs mid-request) stops the pings; they resume once it moves again.
        var faults = Faults()
        faults.latencyMs = 6000
        sandbox.setFaults(faults)
        let stuckFrom = ContinuousClock.now
        try await Task.sleep(for: .seconds(5))
        sandbox.setFaults(Faults())
        let during = socket.all.filter {
            $0.text == "WATCHDOG=1" && $0.at > stuckFrom + .milliseconds(2500) && $0.at < stuckFrom + .seconds(5)
        }
        #expect(during.isEmpty, "no WATCHDOG=1 while the poll loop is stuck")
        let resumedCount = socket.count("WATCHDOG=1")
        #expect(await socket.wait { _ in socket.count("WATCHDOG=1") > resumedCount + 1 }, "pings resume")

        // SIGTERM: STOPPING=1, and a clean exit.
        try stopAndCheck(process, socket)
        try await Task.sleep(for: .milliseconds(200))
        log = logLock.withLock { $0 }
        let text = String(decoding: log, as: UTF8.self)
        #expect(text.contains("starting"))
        #expect(
            text.contains("reload refused: ") && text.contains("bogus_key: unknown key"),
            "the reason is in the message itself"
        )
        #expect(!text.contains(Self.token), "the auth token never reaches a log line")
    }

    @Test("abstract @name sockets work; a fatal start sends STATUS and ERRNO and exits 78")
    func abstractAndFatal() async throws {
        let (sandbox, fixture) = try await sandboxAndFixture("MANOTIFY000000000001")
        defer { sandbox.stop() }
        let socket = try FakeNotifySocket(abstract: true)
        let (process, _) = try launch(fixture, socket: socket)
        #expect(await socket.wait { _ in socket.count("READY=1") == 1 })
        try stopAndCheck(process, socket)

        try "[plivo]\nauth_id = 42\n".write(toFile: fixture.configPath, atomically: true, encoding: .utf8)
        let fatalSocket = try FakeNotifySocket(abstract: true)
        let (broken, _) = try launch(fixture, socket: fatalSocket)
        broken.waitUntilExit()
        #expect(broken.terminationStatus == 78)
        #expect(
            await fatalSocket.wait(.seconds(5)) {
                $0.contains { $0.contains("ERRNO=22") && $0.contains("STATUS=invalid configuration") }
            }
        )
        #expect(fatalSocket.count("READY=1") == 0)
    }

    @Test("the reload helper sends RELOADING=1 itself, then SIGHUPs the daemon")
    func reloadHelper() async throws {
        let (sandbox, fixture) = try await sandboxAndFixture("MANOTIFY000000000002")
        defer { sandbox.stop() }
        let socket = try FakeNotifySocket(abstract: false)
        let (daemon, _) = try launch(fixture, socket: socket)
        defer {
            kill(daemon.processIdentifier, SIGKILL)
            daemon.waitUntilExit()
        }
        #expect(await socket.wait { _ in socket.count("READY=1") == 1 })
        let helper = Process()
        helper.executableURL = TestBinaries.complianceWatch
        helper.arguments = ["reload"]
        var environment = ProcessInfo.processInfo.environment
        environment["NOTIFY_SOCKET"] = socket.environmentValue
        environment["MAINPID"] = String(daemon.processIdentifier)
        helper.environment = environment
        try helper.run()
        helper.waitUntilExit()
        #expect(helper.terminationStatus == 0)
        #expect(await socket.wait { _ in socket.count("READY=1") == 2 })
        #expect(socket.count("RELOADING=1") >= 2, "one from the helper, one from the daemon")
    }
}
