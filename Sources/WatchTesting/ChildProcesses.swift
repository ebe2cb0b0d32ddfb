import Foundation
import Synchronization

/// Long-running children of the test process (daemons, receivers, servers), killed when the
/// test process exits. Each test stops its children in a `defer`, but a test cut short by its
/// time limit never reaches it, and a daemon left polling a dead port loads the machine for
/// every test after it.
public enum ChildProcesses {
    private static let pids = Mutex<Set<Int32>>([])
    private static let installed = Mutex(false)

    /// Kills `process` (SIGKILL) at the test process's exit if it is still our child then.
    public static func killAtExit(_ process: Process) {
        installed.withLock { done in
            guard !done else { return }
            done = true
            atexit { ChildProcesses.killRemaining() }
        }
        _ = pids.withLock { $0.insert(process.processIdentifier) }
    }

    /// Kills each tracked pid (among `only`, when given) whose parent is still this process: a
    /// pid reused by someone else's process is left alone.
    static func killRemaining(only: Set<Int32>? = nil) {
        let me = getpid()
        for pid in pids.withLock({ $0 }) where only?.contains(pid) != false && ProcStat.parent(of: pid) == me {
            kill(pid, SIGKILL)
        }
    }
}
