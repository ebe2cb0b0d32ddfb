import ArgumentParser
import Foundation
import WatchSystemd

extension ComplianceWatchCommand {
    struct Reload: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Ask the running daemon to reload (the ExecReload= helper for systemd 252).",
            discussion: """
                Sends RELOADING=1 with MONOTONIC_USEC to the service manager from this process (allowed by \
                NotifyAccess=exec), then SIGHUP to the daemon. systemd keeps the reload job open until the daemon \
                answers READY=1, so `systemctl reload` returns only when the reload has finished.
                """
        )

        @Option(help: "The daemon's PID; default $MAINPID, which systemd sets for ExecReload=.")
        var pid: Int32?

        func run() async throws {
            guard let target = pid ?? ProcessInfo.processInfo.environment["MAINPID"].flatMap(Int32.init), target > 1
            else {
                printError("no PID: pass --pid or run as ExecReload= (which sets $MAINPID)")
                throw ExitCode(64)
            }
            SystemdNotifier().reloading()
            guard kill(target, SIGHUP) == 0 else {
                printError("cannot signal \(target): \(String(cString: strerror(errno)))")
                throw ExitCode(1)
            }
        }
    }
}
