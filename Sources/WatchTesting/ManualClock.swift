import CurlHTTP
import Foundation
import Synchronization
import WatchCore

/// A ``WatchClock`` that moves only when a test says so. Sleepers wake, in deadline order, as
/// ``advance(by:)`` passes their deadline; a cancelled sleeper throws at once.
public final class ManualClock: WatchClock {
    private struct State {
        var uptime: Duration = .zero
        var wall: Date
        var sleepers: [(id: Int, deadline: Duration, continuation: CheckedContinuation<Void, any Error>)] = []
        var nextId = 0
    }

    private let state: Mutex<State>

    /// A clock at uptime zero and wall time `start`.
    public init(start: Date = Date(timeIntervalSince1970: 1_800_000_000)) {
        state = Mutex(State(wall: start))
    }

    /// Wall time: the start plus everything advanced.
    public var now: Date { state.withLock { $0.wall } }

    /// Everything advanced so far.
    public var uptime: Duration { state.withLock { $0.uptime } }

    /// How many tasks are asleep on this clock.
    public var sleepers: Int { state.withLock { $0.sleepers.count } }

    /// Returns when ``advance(by:)`` has moved past `duration` from now.
    public func sleep(for duration: Duration) async throws {
        let id = state.withLock { state -> Int in
            state.nextId += 1
            return state.nextId
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let resumeNow = state.withLock { state -> Bool in
                    if duration <= .zero || Task.isCancelled { return true }
                    state.sleepers.append((id, state.uptime + duration, continuation))
                    return false
                }
                if resumeNow {
                    if Task.isCancelled {
                        continuation.resume(throwing: CancellationError())
                    } else {
                        continuation.resume()
                    }
                }
            }
        } onCancel: {
            let cancelled = state.withLock { state -> CheckedContinuation<Void, any Error>? in
                guard let index = state.sleepers.firstIndex(where: { $0.id == id }) else { return nil }
                return state.sleepers.remove(at: index).continuation
            }
            cancelled?.resume(throwing: CancellationError())
        }
    }

    /// Moves both clocks forward and wakes every sleeper whose deadline has come.
    public func advance(by duration: Duration) {
        let woken = state.withLock { state -> [CheckedContinuation<Void, any Error>] in
            state.uptime += duration
            state.wall += duration.inSeconds
            let due = state.sleepers.filter { $0.deadline <= state.uptime }.sorted { $0.deadline < $1.deadline }
            state.sleepers.removeAll { $0.deadline <= state.uptime }
            return due.map(\.continuation)
        }
        woken.forEach { $0.resume() }
    }

    /// Waits (in real time, briefly) until `count` tasks sleep on this clock, so a test can
    /// advance past a deadline it knows has been set.
    public func waitForSleepers(_ count: Int) async {
        while sleepers < count { await Task.yield() }
    }
}
