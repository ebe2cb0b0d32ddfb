import CurlHTTP
import Crypto
import Foundation
import WatchCore

/// Forward-secure sealing of audit lines, after journald's Forward Secure Sealing.
///
/// Each line carries `epoch` and `mac` = HMAC-SHA256(k_epoch, the line's content). The key
/// evolves one way every `interval`: k₍ᵢ₊₁₎ = HMAC(kᵢ, "next"), and the daemon keeps only the
/// current one, so a key stolen today forges nothing sealed before today's epoch. The
/// *verification key* (k₀ with the epoch clock) derives every epoch's key and belongs off the host.
public enum AuditSeal {
    /// A key for one epoch and the epoch clock: it derives its own epoch's key and every later one.
    public struct Key: Codable, Sendable, Equatable {
        /// The epoch `key` is for (0 in a verification key).
        public var epoch: Int
        /// The key bytes.
        public var key: Data
        /// When epoch 0 began (Unix time).
        public var start: Double
        /// Seconds per epoch.
        public var interval: Double

        /// The epoch `date` falls in.
        public func epoch(at date: Date) -> Int {
            max(0, Int(((date.timeIntervalSince1970 - start) / interval).rounded(.down)))
        }

        /// The key for `target`, or `nil` for an epoch before this key's (forward security).
        public func key(for target: Int) -> Data? {
            guard target >= epoch else { return nil }
            var current = key
            for _ in epoch..<target { current = AuditSeal.next(current) }
            return current
        }
    }

    /// Where a file sink keeps its sealing key, and how often the key evolves.
    public struct Settings: Sendable {
        /// The state directory (the key files are `audit-sealing.SINK.key` and `audit-verification.SINK.key`).
        public var directory: String
        /// `[audit] seal_interval`.
        public var interval: Duration
        /// The clock that decides each line's epoch.
        public var now: @Sendable () -> Date
        /// The operator's seed (the epoch-0 key), when configured: then no verification key file
        /// is written, since the operator holds it. Secret.
        public var seed: Data?

        /// Creates the settings.
        public init(
            directory: String,
            interval: Duration,
            seed: Data? = nil,
            now: @escaping @Sendable () -> Date = { Date() }
        ) {
            self.directory = directory
            self.interval = interval
            self.seed = seed
            self.now = now
        }
    }

    /// The one-way step between epochs.
    static func next(_ key: Data) -> Data {
        Data(HMAC<SHA256>.authenticationCode(for: Data("next".utf8), using: SymmetricKey(data: key)))
    }

    /// The seal of a line's content under `key`, lowercase hex.
    public static func mac(_ content: Data, key: Data) -> String {
        TextFormat.hex(HMAC<SHA256>.authenticationCode(for: content, using: SymmetricKey(data: key)))
    }

    /// The current sealing key file and the verification key file of one file sink in a state
    /// directory. Each sink has its own: sinks seal at their own pace, and one sink's key moving
    /// on must never take another's bridge away.
    public static func files(in directory: String, sink: String) -> (sealing: String, verification: String) {
        let name = String(sink.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" ? $0 : "_" })
        return (directory + "/audit-sealing.\(name).key", directory + "/audit-verification.\(name).key")
    }

    /// Creates both key files in `directory` (mode 0600) unless the sealing key exists; returns
    /// the verification key when it made one.
    /// With `seed` (the operator's, from `sealing_key_file`/`sealing_key_credential`) no
    /// verification key file is written, and an existing sealing key must come from that seed.
    @discardableResult
    public static func initialize(
        directory: String,
        sink: String,
        interval: Duration,
        seed: Data? = nil,
        now: Date = Date()
    ) throws -> Key? {
        let (sealing, verification) = files(in: directory, sink: sink)
        if FileManager.default.fileExists(atPath: sealing) {
            if let seed {
                let current = try read(sealing)
                let derived = Key(epoch: 0, key: seed, start: current.start, interval: current.interval).key(
                    for: current.epoch
                )
                guard derived == current.key else {
                    throw SealError(
                        "\(sealing) does not come from the configured sealing key; move it aside only if the chain is to start afresh"
                    )
                }
            }
            return nil
        }
        var bytes = [UInt8](repeating: 0, count: 32)
        var generator = SystemRandomNumberGenerator()
        for index in bytes.indices { bytes[index] = generator.next() }
        let key = Key(
            epoch: 0,
            key: seed ?? Data(bytes),
            start: now.timeIntervalSince1970.rounded(.down),
            interval: interval.inSeconds
        )
        if seed == nil { try store(key, to: verification) }
        try store(key, to: sealing)
        return key
    }

    /// Reads a key file.
    public static func read(_ path: String) throws -> Key {
        try JSONDecoder().decode(Key.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
    }

    /// Replaces a key file atomically, mode 0600, fsynced: after an evolution the old key is gone.
    static func store(_ key: Key, to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let data = try encoder.encode(key) + Data("\n".utf8)
        let temporary = path + ".new"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw SealError("cannot write \(temporary): \(String(cString: strerror(errno)))") }
        let written = data.withUnsafeBytes { write(fd, $0.baseAddress!, $0.count) }
        let synced = fsync(fd)
        close(fd)
        guard written == data.count, synced == 0, rename(temporary, path) == 0 else {
            throw SealError("cannot replace \(path): \(String(cString: strerror(errno)))")
        }
    }

    /// A key file that cannot be used.
    public struct SealError: Error, CustomStringConvertible {
        /// What went wrong, naming the file.
        public var description: String
        init(_ description: String) { self.description = description }
    }
}

/// The file sink's sealing state. The key evolves in memory when a line falls in a later epoch;
/// the evolved key replaces the one on disk only after that line is fsynced (``persist()``), so the
/// key file is never ahead of the file: every epoch change in the file can be bridged.
final class Sealer: @unchecked Sendable {
    private let path: String
    private var key: AuditSeal.Key
    /// The epoch of the key on disk.
    private(set) var persistedEpoch: Int
    private let now: @Sendable () -> Date

    /// Loads the sealing key from `directory`, creating the key files on first use.
    init(
        directory: String,
        sink: String,
        interval: Duration,
        seed: Data? = nil,
        now: @escaping @Sendable () -> Date = { Date() }
    ) throws {
        try AuditSeal.initialize(directory: directory, sink: sink, interval: interval, seed: seed, now: now())
        path = AuditSeal.files(in: directory, sink: sink).sealing
        key = try AuditSeal.read(path)
        persistedEpoch = key.epoch
        self.now = now
    }

    /// The key as it is now, to check seals of this epoch and later ones.
    var currentKey: AuditSeal.Key { key }

    /// The epoch for a line written now; never earlier than one already used.
    var currentEpoch: Int { max(key.epoch, key.epoch(at: now())) }

    /// The bridge a line opening `epoch` after a line of `previousEpoch` carries: `prev` sealed
    /// with the previous epoch's key. `nil` when the epoch does not change.
    /// - Throws: when the previous epoch's key is already gone (the key file was ahead).
    func bridge(prev: String, from previousEpoch: Int?, to epoch: Int) throws -> String? {
        guard let previousEpoch, epoch > previousEpoch else { return nil }
        guard let old = key.key(for: previousEpoch) else {
            throw AuditSeal.SealError("the key for epoch \(previousEpoch) is gone; cannot bridge to epoch \(epoch)")
        }
        return AuditSeal.mac(Data(prev.utf8), key: old)
    }

    /// The seal of `content` in `epoch` (not earlier than the key's). The key itself moves on
    /// only in ``advance(to:)``, once the line is written: a line that fails to be written (a
    /// full disk) must not cost the key its bridge from the last line that was.
    func seal(_ content: Data, epoch: Int) -> String {
        AuditSeal.mac(content, key: key.key(for: max(epoch, key.epoch))!)
    }

    /// Moves the in-memory key to `epoch` after a line of that epoch was written.
    func advance(to epoch: Int) {
        guard epoch > key.epoch, let evolved = key.key(for: epoch) else { return }
        key = AuditSeal.Key(epoch: epoch, key: evolved, start: key.start, interval: key.interval)
    }

    /// Replaces the key on disk with the evolved one (call after the lines sealed with it are
    /// fsynced): from then on, nothing sealed in an earlier epoch can be sealed again.
    func persist() throws {
        guard key.epoch > persistedEpoch else { return }
        try AuditSeal.store(key, to: path)
        persistedEpoch = key.epoch
    }
}
