import Dispatch
import Foundation
import Synchronization
import WatchCore

/// The audit trail: appends each event as one hash-chained JSON line (see ``AuditChain``).
///
/// - The file is opened with `O_APPEND`, mode 0640; its directory is created when missing.
/// - A delivery counts as done only after `fsync`. Concurrent deliveries share one `fsync`
///   (group commit), so throughput does not collapse to one event per disk flush.
/// - The chain's head is recorded in the state database after every flush, so truncation is
///   detectable and the chain continues into a fresh file after log rotation.
/// - A failed write is rolled back with `ftruncate`, so a full disk never leaves half a line.
/// - It is an audit trail (``isAuditTrail``): never dead-lettered, and an event already in the
///   file (its line survived a crash before the delivery was recorded, or an fsync failed after
///   the write) is not appended again.
public actor FileSink: Sink {
    /// `type = "file"` settings.
    public struct Configuration: Sendable {
        /// `path`: the JSON Lines file.
        public var path: String

        /// A sink writing to `path`.
        public init(path: String) { self.path = path }
    }

    /// The sink's name.
    public nonisolated let name: String
    /// Always: a hole in the chain would verify as a shorter chain, so it never dead-letters.
    public nonisolated var isAuditTrail: Bool { true }
    /// Where it writes.
    public let configuration: Configuration
    private let store: StateStore?
    private let syncer: Syncer
    private let sealing: AuditSeal.Settings?
    /// Set with several instances on one store: the chain is shared, this host's file holds the
    /// lines it wrote, and its own last line is recorded under ``fileKey``.
    private let host: String?
    /// `NAME@HOST:PATH`: this file's own head, beside the chain's (`NAME`).
    private var fileKey: String? { host.map { "\(name)@\($0):\(configuration.path)" } }
    /// Made at the first append, so a key that cannot be read is a retried delivery error.
    private var sealer: Sealer?
    /// The epoch of the last line in the file (once known).
    private var lastLineEpoch: Int?
    /// The epoch of the line being appended, until it is written.
    private var pendingEpoch: Int?

    private var descriptor: Int32 = -1
    /// Descriptors closed by ``reopen()`` while a flush was in flight: fsynced, then closed, by
    /// a flush that succeeds, so no delivery counts before its line is on disk and no fsync meets
    /// a closed (or reused) descriptor.
    private var retired: [Int32] = []
    private var head: AuditHead?
    private var written = 0
    private var flushed = 0
    private var flushing = false
    private var waiters: [(ticket: Int, continuation: CheckedContinuation<Void, any Error>)] = []
    /// Event ids known to be in the file: the tail found at first open, then every line this
    /// process wrote, the newest ``rememberedIds`` of them.
    private var knownIds: Set<String> = []
    /// The newest fsynced head while the state database has not recorded it.
    private var unrecordedHead: AuditHead?
    /// Set by ``reopen()``: the file now at the path must continue the head before it is used.
    private var needsTailCheck = false
    private var knownOrder: [String] = []
    static let rememberedIds = 10_000

    /// Creates the sink; `store` records the chain head (nil: not recorded), `syncer` runs fsync,
    /// and with `sealing` every line is sealed (``AuditSeal``) with the key kept in its directory.
    public init(
        name: String,
        configuration: Configuration,
        store: StateStore?,
        syncer: Syncer = Syncer(),
        sealing: AuditSeal.Settings? = nil,
        host: String? = nil
    ) {
        self.host = host
        self.syncer = syncer
        self.name = name
        self.configuration = configuration
        self.store = store
        self.sealing = sealing
    }

    deinit {
        if descriptor >= 0 { close(descriptor) }
        retired.forEach { close($0) }
    }

    public func deliver(_ event: Event) async throws(DeliveryError) {
        // The tail check, which also learns the ids already in the file; the chain's head (with a
        // shared store, a read of it) is only needed when a line is appended.
        _ = try fileHead()
        // Already written: make sure it is on disk, and count it as delivered.
        let ticket = knownIds.contains(event.id) ? written : try append(event)
        do {
            try await flush(upTo: ticket)
            try recordHeadIfBehind()
        } catch let error as DeliveryError {
            throw error
        } catch {
            throw .retryable("\(error)")
        }
    }

    /// Closes the file; the next event opens the path again (after logrotate moved it away).
    /// The chain continues from the last line written. Lines written before are fsynced before
    /// their deliveries count: with a flush in flight, the old descriptor is handed to it.
    public func reopen() {
        guard descriptor >= 0 else { return }
        if flushing {
            retired.append(descriptor)
        } else {
            // Nothing unflushed: every append is followed by a flush before the actor lets go.
            close(descriptor)
        }
        descriptor = -1
        needsTailCheck = true
    }

    // MARK: Writing

    private func append(_ event: Event) throws(DeliveryError) -> Int {
        let fd = try open()
        let current = try currentHead()
        var line: Data, lineHash: String
        if let sealing {
            do {
                let sealer = try loadSealer(sealing)
                // The epoch of the line before: from the file, else (a new file) the key on disk,
                // which is never ahead of the last line fsynced.
                // A shared chain's head carries its line's epoch: that line may be another host's.
                let previousEpoch = current.seq == 0 ? nil : (current.epoch ?? lastLineEpoch ?? sealer.persistedEpoch)
                // Never earlier than the line before, even if the clock went back.
                let epoch = max(sealer.currentEpoch, previousEpoch ?? 0)
                let bridge = try sealer.bridge(prev: current.hash, from: previousEpoch, to: epoch)
                (line, lineHash) = AuditChain.line(
                    for: event,
                    seq: current.seq + 1,
                    prev: current.hash,
                    epoch: epoch,
                    bridge: bridge,
                    sign: { sealer.seal($0, epoch: epoch) }
                )
                pendingEpoch = epoch
            } catch {
                throw .retryable("cannot seal the audit line with the key in \(sealing.directory): \(error)")
            }
        } else {
            (line, lineHash) = AuditChain.line(for: event, seq: current.seq + 1, prev: current.hash)
        }
        line.append(0x0A)
        let before = lseek(fd, 0, SEEK_END)
        var offset = 0
        while offset < line.count {
            let count = line.withUnsafeBytes { write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if count < 0 {
                if errno == EINTR { continue }
                let code = errno
                if before >= 0 { _ = ftruncate(fd, before) }  // never leave half a line behind
                throw failure("cannot write to", code)
            }
            offset += count
        }
        head = AuditHead(seq: current.seq + 1, hash: lineHash, path: configuration.path, epoch: pendingEpoch)
        if let pendingEpoch {
            lastLineEpoch = pendingEpoch
            sealer?.advance(to: pendingEpoch)
        }
        remember(event.id)
        written += 1
        return written
    }

    /// Records the newest fsynced head in the state database, if it is not there yet.
    private func recordHeadIfBehind() throws(DeliveryError) {
        guard let pending = unrecordedHead, let store else { return }
        do {
            try store.setAuditHead(sink: name, head: pending, fileKey: fileKey)
            unrecordedHead = nil
        } catch {
            throw .retryable("written and fsynced, but cannot record the chain head in the state database: \(error)")
        }
    }

    private func flush(upTo ticket: Int) async throws {
        if flushed >= ticket { return }
        if flushing {
            try await withCheckedThrowingContinuation { waiters.append((ticket, $0)) }
            return
        }
        flushing = true
        defer { flushing = false }
        while flushed < ticket || !waiters.isEmpty {
            let target = written
            let snapshot = head
            let fds = retired + (descriptor >= 0 ? [descriptor] : [])
            let code = await Self.fsyncOffPool(fds, syncer: syncer)
            guard code == 0 else {
                let error = failure("cannot fsync", code)
                waiters.forEach { $0.continuation.resume(throwing: error) }
                waiters.removeAll()
                throw error
            }
            // Retired descriptors take no more writes: once fsynced, they are done. One whose
            // fsync failed stays retired, and the next flush tries it again.
            for fd in fds where retired.contains(fd) { close(fd) }
            retired.removeAll { fds.contains($0) }
            flushed = max(flushed, target)
            // The evolved sealing key replaces the old one only now that its lines are on disk.
            do {
                try sealer?.persist()
            } catch {
                let failure = DeliveryError.retryable("cannot store the evolved sealing key: \(error)")
                waiters.forEach { $0.continuation.resume(throwing: failure) }
                waiters.removeAll()
                throw failure
            }
            if let snapshot { unrecordedHead = snapshot }
            do {
                try recordHeadIfBehind()
            } catch {
                // On disk, but the database's head is behind: a later verify would call the file
                // too long. The deliveries are retried (their lines are not written again) until
                // the head is recorded.
                waiters.forEach { $0.continuation.resume(throwing: error) }
                waiters.removeAll()
                throw error
            }
            let ready = waiters.filter { $0.ticket <= flushed }
            waiters.removeAll { $0.ticket <= flushed }
            ready.forEach { $0.continuation.resume() }
        }
    }

    /// fsync blocks; keep it off Swift's cooperative threads. Returns the first errno, or 0.
    private static func fsyncOffPool(_ fds: [Int32], syncer: Syncer) async -> Int32 {
        await withCheckedContinuation { continuation in
            DispatchQueue.global(qos: .utility).async {
                for fd in fds {
                    let code = syncer.sync(fd)
                    if code != 0 { return continuation.resume(returning: code) }
                }
                continuation.resume(returning: 0)
            }
        }
    }

    private func open() throws(DeliveryError) -> Int32 {
        if descriptor >= 0 { return descriptor }
        let directory = URL(fileURLWithPath: configuration.path).deletingLastPathComponent().path
        if !FileManager.default.fileExists(atPath: directory) {
            guard mkdir(directory, 0o750) == 0 || errno == EEXIST else {
                throw failure("cannot create the directory of", errno)
            }
        }
        let fd = Foundation.open(configuration.path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o640)
        guard fd >= 0 else { throw failure("cannot open", errno) }
        descriptor = fd
        return fd
    }

    private func remember(_ id: String) {
        guard knownIds.insert(id).inserted else { return }
        knownOrder.append(id)
        if knownOrder.count > 2 * Self.rememberedIds {
            let dropped = knownOrder.prefix(knownOrder.count - Self.rememberedIds)
            knownIds.subtract(dropped)
            knownOrder.removeFirst(dropped.count)
        }
    }

    /// The chain's head. On first use, and after a reopen, the file's end is checked against the
    /// newest known head (this process's, else the state database's): a file that does not
    /// continue it is never appended to. Its deliveries stay pending, with the reason, until an
    /// operator moves the file aside; the chain then continues from the head in a new file.
    private func currentHead() throws(DeliveryError) -> AuditHead {
        let file = try fileHead()
        guard host != nil else { return file }
        // Shared chain: another host may have led, and written lines, since this one last did.
        // Its head is the store's; this host's newer appends are not recorded yet.
        let shared: AuditHead?
        do {
            shared = try store?.auditHead(sink: name)
        } catch {
            throw .retryable("cannot read the chain head from the state database: \(error)")
        }
        guard let shared, shared.seq > file.seq else { return file }
        return AuditHead(seq: shared.seq, hash: shared.hash, path: configuration.path, epoch: shared.epoch)
    }

    /// The end of this sink's own file, checked once (and after a reopen) against the newest
    /// head known for it.
    private func fileHead() throws(DeliveryError) -> AuditHead {
        if let head, !needsTailCheck { return head }
        var known = head
        if known == nil {
            do {
                known = try store?.auditHead(sink: fileKey ?? name)
            } catch {
                throw .retryable("cannot read the chain head from the state database: \(error)")
            }
        }
        let (window, ids) = Self.tailWindow(of: configuration.path)
        switch AuditChain.checkTail(window: window, path: configuration.path, known: known) {
        case .continueFrom(let verified):
            // Lines after the recorded head were sealed with a key no older than the one on
            // disk: their seals must hold, or someone without the key wrote them.
            if let sealing {
                let sealer: Sealer
                do {
                    sealer = try loadSealer(sealing)
                } catch {
                    throw .retryable("cannot read the sealing key in \(sealing.directory): \(error)")
                }
                let verdict = AuditChain.verify(files: [(configuration.path, window)], key: sealer.currentKey)
                if let problem = verdict.problem, problem.kind == .forged {
                    throw .retryable(
                        "audit file \(configuration.path) failed verification: \(problem.detail); nothing is appended to it until it is moved aside"
                    )
                }
            }
            ids.forEach(remember)
            head = verified
            if let last = window.split(separator: 0x0A).last, let parsed = AuditChain.parse(Data(last)) {
                lastLineEpoch = parsed.epoch
            }
            needsTailCheck = false
            return verified
        case .refused(let reason):
            throw .retryable(
                "audit file \(configuration.path) failed verification: \(reason); nothing is appended to it until it is moved aside"
            )
        }
    }

    /// The sealer, made (and the key files created) on first use.
    private func loadSealer(_ sealing: AuditSeal.Settings) throws -> Sealer {
        if let sealer { return sealer }
        let made = try Sealer(
            directory: sealing.directory,
            sink: name,
            interval: sealing.interval,
            seed: sealing.seed,
            now: sealing.now
        )
        sealer = made
        return made
    }

    /// The last MiB of the file, from its first complete line, and the event ids in it.
    static func tailWindow(of path: String) -> (window: Data, ids: [String]) {
        guard let handle = FileHandle(forReadingAtPath: path) else { return (Data(), []) }
        defer { try? handle.close() }
        guard let size = try? handle.seekToEnd(), size > 0 else { return (Data(), []) }
        let length = min(size, 1 << 20)
        try? handle.seek(toOffset: size - length)
        guard var data = try? handle.readToEnd() else { return (Data(), []) }
        // Started mid-line: drop the partial first line.
        if length < size, let newline = data.firstIndex(of: 0x0A) { data = Data(data[data.index(after: newline)...]) }
        return (data, AuditChain.entries(data).map(\.eventId))
    }

    private func failure(_ what: String, _ code: Int32) -> DeliveryError {
        // A full disk, a read-only mount or a permission problem is fixed by an operator: keep
        // retrying (the delivery stays pending, nothing is lost) and say exactly what failed.
        .retryable("\(what) \(configuration.path): \(String(cString: strerror(code)))")
    }
}

/// Makes a descriptor's writes durable: `fsync(2)`, and a count of the calls, so tests and
/// benchmarks can see group commit at work instead of inferring it from timing.
public final class Syncer: Sendable {
    private let calls = Mutex(0)
    private let hook: @Sendable (Int32) -> Void

    /// - Parameter hook: Runs before each fsync (tests use it to hold an fsync in flight).
    public init(hook: @escaping @Sendable (Int32) -> Void = { _ in }) {
        self.hook = hook
    }

    /// How many fsyncs were made.
    public var count: Int { calls.withLock { $0 } }

    /// fsyncs `fd`; 0 or the errno.
    public func sync(_ fd: Int32) -> Int32 {
        hook(fd)
        calls.withLock { $0 += 1 }
        return fsync(fd) == 0 ? 0 : errno
    }
}
