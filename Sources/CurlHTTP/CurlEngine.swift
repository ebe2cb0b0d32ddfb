internal import CCurl
import Foundation
import Synchronization

/// Runs transfers on one dedicated thread with a curl multi handle.
///
/// Why a thread of its own: `curl_multi_poll` blocks, and blocking calls must never run on Swift's
/// cooperative pool. The multi handle keeps one connection cache for every transfer, so sequential
/// requests to the same host reuse a connection. At most `maxConcurrent` transfers run at once;
/// the rest wait in order.
final class CurlEngine: @unchecked Sendable {
    private struct Inbox {
        var pending: [CurlTransfer] = []
        var cancelled: [CurlTransfer] = []
        var stopping = false
        /// Set under the lock together with `curl_multi_cleanup`, so no wakeup can reach a freed handle.
        var closed = false
    }

    private let multi: UnsafeMutableRawPointer
    private let inbox = Mutex(Inbox())
    private let maxConcurrent: Int
    /// Engine thread only.
    private var active: [UnsafeMutableRawPointer: CurlTransfer] = [:]
    private var waiting: [CurlTransfer] = []

    init(maxConcurrent: Int, name: String) {
        CurlRuntime.ensureInitialised()
        self.maxConcurrent = max(1, maxConcurrent)
        guard let multi = curl_multi_init() else { fatalError("curl_multi_init failed") }
        self.multi = multi
        _ = ccurl_multi_setopt_long(multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, self.maxConcurrent)
        let thread = Thread { [self] in self.run() }
        thread.name = name
        thread.start()
    }

    /// Queues a transfer; its completion fires on the engine thread.
    func submit(_ transfer: CurlTransfer) {
        let accepted = inbox.withLock { inbox in
            guard !inbox.stopping else { return false }
            inbox.pending.append(transfer)
            curl_multi_wakeup(multi)
            return true
        }
        if !accepted { transfer.finish(.failure(CancellationError())) }
    }

    /// Aborts a transfer wherever it is: queued, running, or already done (then a no-op).
    func cancel(_ transfer: CurlTransfer) {
        transfer.cancelled.store(true, ordering: .sequentiallyConsistent)
        inbox.withLock { inbox in
            // Once closed, every transfer has already finished with CancellationError.
            guard !inbox.closed else { return }
            inbox.cancelled.append(transfer)
            curl_multi_wakeup(multi)
        }
    }

    /// Stops the thread once the running transfers are aborted. Safe to call more than once,
    /// and from any thread: the wakeup happens under the lock that also guards the cleanup.
    func shutdown() {
        inbox.withLock { inbox in
            inbox.stopping = true
            if !inbox.closed { curl_multi_wakeup(multi) }
        }
    }

    private func run() {
        while true {
            let (incoming, cancelled, stopping) = inbox.withLock { inbox in
                defer {
                    inbox.pending.removeAll()
                    inbox.cancelled.removeAll()
                }
                return (inbox.pending, inbox.cancelled, inbox.stopping)
            }
            waiting.append(contentsOf: incoming)
            if stopping { break }
            for transfer in cancelled { abort(transfer) }
            startWaiting()

            var running: Int32 = 0
            curl_multi_perform(multi, &running)
            collectFinished()
            // A finished transfer may have freed a slot for a queued one: start it without waiting.
            if !waiting.isEmpty, active.count < maxConcurrent { continue }
            curl_multi_poll(multi, nil, 0, 1000, nil)
        }
        for transfer in active.values {
            curl_multi_remove_handle(multi, transfer.easy)
            transfer.finish(.failure(CancellationError()))
        }
        active.removeAll()
        waiting.forEach { $0.finish(.failure(CancellationError())) }
        waiting.removeAll()
        let late = inbox.withLock { inbox in
            inbox.closed = true
            curl_multi_cleanup(multi)
            return inbox.pending
        }
        late.forEach { $0.finish(.failure(CancellationError())) }
    }

    private func abort(_ transfer: CurlTransfer) {
        if active.removeValue(forKey: transfer.easy) != nil {
            curl_multi_remove_handle(multi, transfer.easy)
        }
        waiting.removeAll { $0 === transfer }
        transfer.finish(.failure(CancellationError()))
    }

    private func startWaiting() {
        while active.count < maxConcurrent, !waiting.isEmpty {
            let transfer = waiting.removeFirst()
            if transfer.cancelled.load(ordering: .sequentiallyConsistent) {
                transfer.finish(.failure(CancellationError()))
                continue
            }
            let code = curl_multi_add_handle(multi, transfer.easy)
            guard code == CURLM_OK else {
                let message = String(cString: curl_multi_strerror(code))
                transfer.finish(
                    .failure(
                        HTTPTransportError(
                            kind: .invalidRequest,
                            code: Int32(code.rawValue),
                            message: message,
                            url: transfer.url
                        )
                    )
                )
                continue
            }
            active[transfer.easy] = transfer
        }
    }

    private func collectFinished() {
        var remaining: Int32 = 0
        while let message = curl_multi_info_read(multi, &remaining) {
            guard message.pointee.msg == CURLMSG_DONE, let easy = message.pointee.easy_handle else { continue }
            let code = ccurl_msg_result(message)
            curl_multi_remove_handle(multi, easy)
            if let transfer = active.removeValue(forKey: easy) {
                transfer.finish(code: code)
            }
        }
    }
}
