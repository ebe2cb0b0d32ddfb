import Foundation
import Logging
import ServiceLifecycle
import WatchCore
import WatchPostgres

/// Several instances on one PostgreSQL store: the one holding the lease runs the leader's
/// services (polling, delivery, retention); the others stand by and take over when the lease
/// runs out.
///
/// - Standby: tries to take the lease every third of its length.
/// - Leader: renews every third of the lease. Its ``LeaseGate`` stays open until the lease would
///   end by its own clock, counted from when the renewal was sent; its writes are fenced by the
///   token in the database. A renewal that finds another holder, or a gate that closes because
///   renewals kept failing, stops the leader's services at once (cancellation, no drain) and it
///   stands by again.
/// - Graceful shutdown: the leader's services drain as usual, then the lease is released so a
///   standby takes over at its next try.
public struct ActiveStandby: Service {
    let lease: PostgresLease
    let gate: LeaseGate
    let status: StatusBoard
    let services: [any Service]
    let prepare: @Sendable () throws -> Void
    /// The poll loops' heartbeats: beaten while standing by, when no loop runs, so the watchdog
    /// sees a live standby.
    let heartbeats: [Heartbeat]
    let logger: Logger

    struct LostLease: Error {}

    /// Runs `services` while this instance leads, after `prepare` (which may write: it runs
    /// under the new token).
    public init(
        lease: PostgresLease,
        gate: LeaseGate,
        status: StatusBoard,
        services: [any Service],
        prepare: @escaping @Sendable () throws -> Void,
        heartbeats: [Heartbeat],
        logger: Logger
    ) {
        self.heartbeats = heartbeats
        self.prepare = prepare
        self.lease = lease
        self.gate = gate
        self.status = status
        self.services = services
        self.logger = logger
    }

    private var tick: Duration { lease.duration / 3 }

    public func run() async throws {
        var failures = 0
        while !Task.isCancelled, !isShuttingDown {
            let sent = ContinuousClock.now
            let token: Int64?
            do {
                try lease.announce(role: "standby")
                token = try lease.acquire()
                failures = 0
            } catch {
                failures += 1
                // Once, then every tenth try: a database outage is also in every other log line.
                if failures == 1 || failures % 10 == 0 {
                    logger.warning("cannot reach the lease in the state database", metadata: ["cw.error": "\(error)"])
                }
                status.update { $0.role = "standby; state database unreachable (\(Self.short(error)))" }
                await standBy()
                continue
            }
            guard let token else {
                showStandby()
                await standBy()
                continue
            }
            gate.open(until: sent + lease.duration)
            lease.database.fence.lead(.init(instance: lease.instance.id, token: token))
            try? lease.announce(role: "leader")
            logger.notice("leading: took the lease", metadata: ["cw.token": "\(token)"])
            status.update { $0.role = "leader (token \(token))" }
            do {
                try prepare()
            } catch {
                logger.error("cannot prepare the store after taking the lease", metadata: ["cw.error": "\(error)"])
            }
            let lost = await lead(token: token)
            lease.database.fence.standBy()
            gate.close()
            if lost {
                logger.warning("lost the lease; standing by", metadata: ["cw.token": "\(token)"])
            } else {
                do {
                    try lease.release(token: token)
                    logger.notice("released the lease", metadata: ["cw.token": "\(token)"])
                } catch {
                    logger.warning(
                        "cannot release the lease; a standby takes over when it runs out",
                        metadata: ["cw.error": "\(error)"]
                    )
                }
                break
            }
        }
        try? lease.leave()
    }

    /// Runs the leader's services and the renewals. - Returns: `true` when leadership was lost,
    /// `false` when the services ended (graceful shutdown).
    private func lead(token: Int64) async -> Bool {
        await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                await withTaskGroup(of: Void.self) { inner in
                    for service in services {
                        inner.addTask {
                            do {
                                try await service.run()
                            } catch {
                                logger.error(
                                    "a leader service failed",
                                    metadata: ["cw.service": "\(service)", "cw.error": "\(error)"]
                                )
                            }
                        }
                    }
                }
                return false
            }
            group.addTask { await renew(token: token) }
            let first = await group.next() ?? false
            group.cancelAll()
            return first
        }
    }

    /// Renews until leadership is lost (`true`) or the task is cancelled (`false`).
    private func renew(token: Int64) async -> Bool {
        while !Task.isCancelled {
            do {
                try await Task.sleep(for: tick)
            } catch {
                return false
            }
            let sent = ContinuousClock.now
            do {
                try lease.announce(role: "leader")
                if try lease.renew(token: token) {
                    gate.open(until: sent + lease.duration)
                    continue
                }
                return true  // another instance holds it now
            } catch {
                logger.warning("cannot renew the lease", metadata: ["cw.error": "\(error)"])
            }
            if !gate.isOpen { return true }  // renewals kept failing past the lease
        }
        return false
    }

    /// Waits until the next try, beating the heartbeats each second.
    private func standBy() async {
        let deadline = ContinuousClock.now + tick
        while ContinuousClock.now < deadline, !Task.isCancelled, !isShuttingDown {
            heartbeats.forEach { $0.beat() }
            try? await Task.sleep(for: min(.seconds(1), deadline - ContinuousClock.now))
        }
        heartbeats.forEach { $0.beat() }
    }

    private func showStandby() {
        guard let holder = try? lease.holder() else { return }
        let standbys = ((try? lease.members(within: lease.duration)) ?? []).filter { $0.role == "standby" }.count
        let leader = holder.host.map { "\($0) (pid \(holder.pid ?? 0))" } ?? "nobody yet"
        let since = holder.since.map { " since \(TextFormat.clockTime($0))" } ?? ""
        status.update {
            $0.role =
                "standby; leader is \(leader)\(since); token \(holder.token); \(standbys) standby\(standbys == 1 ? "" : "s")"
        }
    }

    private static func short(_ error: any Error) -> String {
        let text = "\(error)"
        return text.count > 80 ? String(text.prefix(80)) + "…" : text
    }

    private var isShuttingDown: Bool { Task.isShuttingDownGracefully }
}

extension ActiveStandby: CustomStringConvertible, CustomDebugStringConvertible {
    /// Short, and free of configuration values: service-lifecycle logs services by description.
    public var description: String { "ActiveStandby" }
    public var debugDescription: String { description }
}
