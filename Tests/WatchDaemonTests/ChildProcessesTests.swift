import Foundation
import Testing
@testable import WatchTesting

@Suite("Children of the test process are killed at its exit")
struct ChildProcessesTests {
    @Test("a tracked child still running is killed; a finished one is left alone")
    func killsRunningChildren() throws {
        let sleeper = Process()
        sleeper.executableURL = URL(fileURLWithPath: "/bin/sleep")
        sleeper.arguments = ["60"]
        try sleeper.run()
        ChildProcesses.killAtExit(sleeper)
        let quick = Process()
        quick.executableURL = URL(fileURLWithPath: "/bin/true")
        try quick.run()
        quick.waitUntilExit()
        ChildProcesses.killAtExit(quick)

        #expect(ProcStat.parent(of: sleeper.processIdentifier) == getpid())
        #expect(ProcStat.parent(of: quick.processIdentifier) == nil, "reaped: no longer in /proc")
        // Only this test's children: the suite's other daemons run beside it.
        ChildProcesses.killRemaining(only: [sleeper.processIdentifier, quick.processIdentifier])
        sleeper.waitUntilExit()
        #expect(sleeper.terminationReason == .uncaughtSignal)
        #expect(sleeper.terminationStatus == SIGKILL)
    }
}
