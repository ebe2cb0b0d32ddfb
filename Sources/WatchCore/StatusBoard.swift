import CurlHTTP
import Foundation
import Synchronization

/// How one account's poll loop is doing.
public struct PollStatus: Sendable, Equatable {
    /// The last cycle.
    public var lastPollAt: Date?
    /// Whether it read everything.
    public var lastPollOK: Bool?
    /// What went wrong, as shown: "API unreachable (HTTP 503)", "state database error".
    public var lastError: String?
    /// The wait before the next try, after a failure.
    public var retryIn: Duration?
    /// Set while no cycle completes, or an application cannot be confirmed, for too long.
    public var stalled: String?

    /// Nothing polled yet.
    public init() {}

    /// "last poll 10:02:03 ok", led by the stall and the error when there are any.
    var parts: [String] {
        var parts: [String] = []
        if let stalled { parts.append(stalled) }
        if let error = lastError, lastPollOK == false {
            var text = error
            if let retryIn { text += "; retrying in \(Int(retryIn.inSeconds.rounded()))s" }
            parts.append(text)
        }
        if let lastPollAt {
            parts.append("last poll \(TextFormat.clockTime(lastPollAt)) \(lastPollOK == true ? "ok" : "failed")")
        } else {
            parts.append("first poll running")
        }
        return parts
    }
}

/// What the daemon is doing, for the systemd STATUS line and the watchdog.
public struct WatchStatus: Sendable, Equatable {
    /// Live applications in the store, across accounts.
    public var tracked: Int = 0
    /// Each account's poll loop, by account name.
    public var polls: [String: PollStatus] = [:]
    /// Deliveries not yet made, across sinks.
    public var pendingDeliveries: Int = 0
    /// Set when a reload was refused, shown until the next good reload.
    public var configWarning: String?
    /// Sinks disabled by their receiver (410 Gone), with the reason.
    public var disabledSinks: [String: String] = [:]
    /// Sinks whose deliveries are failing or blocked, one short note each.
    public var sinkNotes: [String] = []
    /// With several instances on PostgreSQL: "leader (token 7)", or "standby; leader is …".
    public var role: String?

    /// Whether this instance stands by (it polls and delivers nothing).
    public var standingBy: Bool { role?.hasPrefix("standby") == true }

    /// Whether any account's polling is stalled, and why (the first, by name).
    public var stalled: String? {
        polls.sorted { $0.key < $1.key }.lazy.compactMap(\.value.stalled).first
    }

    /// One line, e.g. "tracking 1,204 applications; last poll 10:02:03 ok; 0 deliveries pending".
    /// With several accounts, each account's part is led by its name: "acme: last poll 10:02:03
    /// ok; beta: API refused the credentials (HTTP 401); retrying in 30s; beta: last poll …".
    public var summary: String {
        if standingBy, let role {
            return [role, configWarning].compactMap { $0 }.joined(separator: "; ")
        }
        var parts: [String] = role.map { [$0] } ?? []
        let accounts = polls.sorted { $0.key < $1.key }
        if accounts.count <= 1 {
            let poll = accounts.first?.value ?? PollStatus()
            var own = poll.parts
            let last = own.removeLast()
            parts += own + ["tracking \(TextFormat.grouped(tracked)) applications", last]
        } else {
            parts.append("tracking \(TextFormat.grouped(tracked)) applications in \(accounts.count) accounts")
            for (name, poll) in accounts { parts += poll.parts.map { "\(name): \($0)" } }
        }
        parts.append("\(pendingDeliveries) deliveries pending")
        for (sink, reason) in disabledSinks.sorted(by: { $0.key < $1.key }) {
            parts.append("sink \(sink) disabled (\(reason))")
        }
        parts += sinkNotes
        if let configWarning { parts.append(configWarning) }
        return parts.joined(separator: "; ")
    }
}

/// Shared, thread-safe holder of ``WatchStatus``.
public final class StatusBoard: Sendable {
    private let state = Mutex(WatchStatus())
    /// An empty board.
    public init() {}
    /// The status now.
    public var current: WatchStatus { state.withLock { $0 } }
    /// Changes the status under the lock.
    public func update(_ change: (inout WatchStatus) -> Void) { state.withLock { change(&$0) } }
}
