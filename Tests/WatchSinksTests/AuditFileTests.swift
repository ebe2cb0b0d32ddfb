import Foundation
import Synchronization
import Testing
import WatchCore
@testable import WatchSinks

@Suite("Audit file", .timeLimit(.minutes(1)))
struct AuditFileTests {
    /// Writes `count` events through a real FileSink and returns the file's lines.
    func writeChain(
        _ count: Int,
        store: StateStore? = nil
    ) async throws -> (path: String, lines: [Data], sink: FileSink) {
        let dir = try temporaryDirectory()
        let path = dir.appendingPathComponent("logs/events.jsonl").path
        let sink = FileSink(name: "audit", configuration: .init(path: path), store: store)
        for i in 1...count { try await sink.deliver(makeEvent(app: "app\(i % 3)", version: i)) }
        let lines = try #require(FileManager.default.contents(atPath: path)).split(separator: 0x0A).map { Data($0) }
        return (path, lines, sink)
    }

    @Test("a head the state database cannot record is retried, and the line is never written twice")
    func unrecordedHead() async throws {
        let dir = try temporaryDirectory()
        let statePath = dir.appendingPathComponent("state.db").path
        _ = try StateStore.open(path: statePath)
        let readOnly = try StateStore.openReadOnly(path: statePath)
        let path = dir.appendingPathComponent("events.jsonl").path
        let sink = FileSink(name: "audit", configuration: .init(path: path), store: readOnly)
        let event = makeEvent()
        for _ in 0..<2 {
            let error = await #expect(throws: DeliveryError.self) { try await sink.deliver(event) }
            #expect(error?.disposition == .retry)
            #expect(error?.message.contains("cannot record the chain head") == true)
        }
        let lines = try #require(FileManager.default.contents(atPath: path)).split(separator: 0x0A)
        #expect(lines.count == 1)
        #expect(try readOnly.auditHead(sink: "audit") == nil)
    }

    /// The attack issue 12 describes: one decision rewritten, every hash after it
    /// recomputed, optionally with one line appended so the file is longer than the recorded head.
    func forge(_ lines: [Data], at index: Int, append: Bool) throws -> [Data] {
        var forged = Array(lines[..<index])
        var prev = index == 0 ? AuditChain.genesis : Hashing.sha256Hex(lines[index - 1])
        var events = try lines[index...].map { line -> Event in
            let object = try #require(try JSONSerialization.jsonObject(with: line) as? [String: Any])
            return try Event.decode(try JSONSerialization.data(withJSONObject: try #require(object["event"])))
        }
        // writeChain's events are accepted; the forger turns this one around (the other way
        // round from the example, same attack).
        events[0].data.application.status = events[0].toStatus == .accepted ? "rejected" : "accepted"
        events[0].data.application.rejectionReason = events[0].toStatus == .rejected ? "forged" : nil
        if append { events.append(makeEvent(app: "appX", version: 99)) }
        for (offset, event) in events.enumerated() {
            let (line, hash) = AuditChain.line(for: event, seq: index + offset + 1, prev: prev)
            forged.append(line)
            prev = hash
        }
        return forged
    }

    @Test("a rewritten and recomputed chain fails verify against the recorded head, with or without a line appended")
    func rewriteAttack() async throws {
        let store = try StateStore.inMemory()
        let (path, lines, _) = try await writeChain(5, store: store)
        let head = try #require(try store.auditHead(sink: "audit"))
        #expect(AuditChain.verify(files: [(path, join(lines))], head: head).isIntact)
        for append in [false, true] {
            let forged = try forge(lines, at: 2, append: append)
            #expect(
                AuditChain.verify(files: [(path, join(forged))]).isIntact,
                "the forgery is a valid chain on its own"
            )
            let verdict = AuditChain.verify(files: [(path, join(forged))], head: head)
            #expect(!verdict.isIntact)
            #expect(verdict.description.contains("the chain was rewritten"), "\(verdict)")
        }
    }

    @Test("a forged file is never extended: deliveries wait with the reason, and moving it aside continues the chain")
    func forgedTailRefused() async throws {
        let store = try StateStore.inMemory()
        let (path, lines, _) = try await writeChain(5, store: store)
        let head = try #require(try store.auditHead(sink: "audit"))
        let forged = join(try forge(lines, at: 2, append: true))
        try forged.write(to: URL(fileURLWithPath: path))

        // A restart: the new sink checks the file against the recorded head before appending.
        let restarted = FileSink(name: "audit", configuration: .init(path: path), store: store)
        let next = makeEvent(app: "app-next", version: 7)
        let refused = await #expect(throws: DeliveryError.self) { try await restarted.deliver(next) }
        #expect(refused?.disposition == .retry, "retried, so nothing is lost")
        #expect(refused?.message.contains("audit file \(path) failed verification") == true)
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == forged, "not a byte appended")
        #expect(try store.auditHead(sink: "audit") == head, "the forged head is not adopted")

        // The operator moves the file aside: the chain continues from the recorded head.
        try FileManager.default.moveItem(atPath: path, toPath: path + ".forged")
        try await restarted.deliver(next)
        let fresh = try #require(FileManager.default.contents(atPath: path)).split(separator: 0x0A).map { Data($0) }
        #expect(fresh.count == 1)
        let line = try #require(try JSONSerialization.jsonObject(with: fresh[0]) as? [String: Any])
        #expect(line["seq"] as? Int == head.seq + 1)
        #expect(line["prev"] as? String == head.hash)
        #expect(
            AuditChain.verify(
                files: [(path + ".genuine", join(lines)), (path, join(fresh))],
                head: try store.auditHead(sink: "audit")
            ).isIntact
        )
    }

    @Test("after a reopen, a forged file put at the path is refused too")
    func forgedAfterReopen() async throws {
        let store = try StateStore.inMemory()
        let (path, lines, sink) = try await writeChain(4, store: store)
        try join(try forge(lines, at: 1, append: false)).write(to: URL(fileURLWithPath: path))
        await sink.reopen()
        let refused = await #expect(throws: DeliveryError.self) {
            try await sink.deliver(makeEvent(app: "later", version: 9))
        }
        #expect(refused?.message.contains("failed verification") == true)
    }

    /// A clock the test moves.
    final class TestClock: Sendable {
        let now = Mutex(Date(timeIntervalSince1970: 1_800_000_000))
        func advance(_ seconds: Double) { now.withLock { $0 += seconds } }
    }

    /// Five sealed lines: three in epoch 0, two in epoch 2 (interval 1 h).
    func sealedChain() async throws -> (dir: URL, path: String, lines: [Data], clock: TestClock) {
        let dir = try temporaryDirectory()
        let path = dir.appendingPathComponent("events.jsonl").path
        let clock = TestClock()
        let sealing = AuditSeal.Settings(
            directory: dir.path,
            interval: .seconds(3600),
            now: { clock.now.withLock { $0 } }
        )
        let sink = FileSink(
            name: "audit",
            configuration: .init(path: path),
            store: try StateStore.inMemory(),
            sealing: sealing
        )
        for i in 1...3 { try await sink.deliver(makeEvent(app: "app\(i)", version: i)) }
        clock.advance(2 * 3600 + 1)
        for i in 4...5 { try await sink.deliver(makeEvent(app: "app\(i)", version: i)) }
        let lines = try #require(FileManager.default.contents(atPath: path)).split(separator: 0x0A).map { Data($0) }
        return (dir, path, lines, clock)
    }

    @Test("sealed lines verify with the verification key after the on-host copy is gone; the sealing key has moved on")
    func sealing() async throws {
        let (dir, path, lines, _) = try await sealedChain()
        let epochs = try lines.map {
            try #require(try JSONSerialization.jsonObject(with: $0) as? [String: Any])["epoch"] as? Int
        }
        #expect(epochs == [0, 0, 0, 2, 2])
        let (sealingFile, verificationFile) = AuditSeal.files(in: dir.path, sink: "audit")
        let offHost = try Data(contentsOf: URL(fileURLWithPath: verificationFile))
        try FileManager.default.removeItem(atPath: verificationFile)
        let verificationKey = try JSONDecoder().decode(AuditSeal.Key.self, from: offHost)
        let full = AuditChain.verify(files: [(path, join(lines))], key: verificationKey)
        #expect(full.isIntact)
        #expect(full.sealsVerified == 5 && full.sealsUnchecked == 0 && full.unsealed == 0)
        // What stays on the host is only the current epoch's key: it cannot check, or make, older seals.
        let current = try AuditSeal.read(sealingFile)
        #expect(current.epoch == 2)
        #expect(current.key != verificationKey.key)
        #expect(current.key(for: 0) == nil)
        let partial = AuditChain.verify(files: [(path, join(lines))], key: current)
        #expect(partial.isIntact && partial.sealsVerified == 2 && partial.sealsUnchecked == 3)
        #expect(
            partial.sealSummary
                == "seals verified on 2 lines; 3 sealed lines only chain-checked (seq 1–3): no key for their epoch"
        )
        let mode = try FileManager.default.attributesOfItem(atPath: sealingFile)[.posixPermissions] as? Int
        #expect(mode == 0o600)
    }

    @Test("a line sealed in an earlier epoch cannot be forged with the current key")
    func forgedWithCurrentKey() async throws {
        let (dir, path, lines, _) = try await sealedChain()
        let verificationKey = try AuditSeal.read(AuditSeal.files(in: dir.path, sink: "audit").verification)
        let stolen = try AuditSeal.read(AuditSeal.files(in: dir.path, sink: "audit").sealing)
        // The thief rewrites line 2 (epoch 0), recomputes every hash after it and seals what it
        // can with the stolen key: (a) line 2 keeps its epoch 0 label; (b) every line from 2 on
        // is moved into the current epoch 2, with a bridge made with the only key it has.
        for moveAll in [false, true] {
            var forged = [lines[0]]
            var prev = Hashing.sha256Hex(lines[0])
            var previousEpoch = 0
            for (offset, line) in lines.dropFirst().enumerated() {
                let object = try #require(try JSONSerialization.jsonObject(with: line) as? [String: Any])
                var event = try Event.decode(try JSONSerialization.data(withJSONObject: try #require(object["event"])))
                if offset == 0 { event.data.application.status = "rejected" }
                let epoch = moveAll ? 2 : try #require(object["epoch"] as? Int)
                let bridge = epoch > previousEpoch ? AuditSeal.mac(Data(prev.utf8), key: stolen.key) : nil
                let (newLine, hash) = AuditChain.line(
                    for: event,
                    seq: offset + 2,
                    prev: prev,
                    epoch: epoch,
                    bridge: bridge,
                    sign: { AuditSeal.mac($0, key: stolen.key(for: max(epoch, stolen.epoch))!) }
                )
                forged.append(newLine)
                prev = hash
                previousEpoch = epoch
            }
            let verdict = AuditChain.verify(files: [(path, join(forged))], key: verificationKey)
            #expect(!verdict.isIntact)
            #expect(verdict.problem?.kind == .forged, "\(verdict)")
            #expect(verdict.problem?.line == 2, "caught at the first forged line: \(verdict)")
        }
    }

    @Test(
        "with an operator's seed, no verification key is left on the host, and a sealing key from another seed is refused"
    )
    func operatorSeed() async throws {
        let dir = try temporaryDirectory()
        let path = dir.appendingPathComponent("events.jsonl").path
        let seed = Data(repeating: 7, count: 32)
        let sink = FileSink(
            name: "audit",
            configuration: .init(path: path),
            store: try StateStore.inMemory(),
            sealing: .init(directory: dir.path, interval: .seconds(3600), seed: seed)
        )
        try await sink.deliver(makeEvent())
        let (sealingFile, verificationFile) = AuditSeal.files(in: dir.path, sink: "audit")
        #expect(!FileManager.default.fileExists(atPath: verificationFile))
        let onDisk = try AuditSeal.read(sealingFile)
        let operatorKey = AuditSeal.Key(epoch: 0, key: seed, start: onDisk.start, interval: onDisk.interval)
        let lines = try #require(FileManager.default.contents(atPath: path))
        #expect(AuditChain.verify(files: [(path, lines)], key: operatorKey).sealsVerified == 1)

        let other = FileSink(
            name: "audit",
            configuration: .init(path: path),
            store: try StateStore.inMemory(),
            sealing: .init(directory: dir.path, interval: .seconds(3600), seed: Data(repeating: 8, count: 32))
        )
        let refused = await #expect(throws: DeliveryError.self) {
            try await other.deliver(makeEvent(app: "x", version: 2))
        }
        #expect(refused?.message.contains("does not come from the configured sealing key") == true)
    }

    @Test("a line appended after the recorded head without the sealing key is refused at the next start")
    func unsealedTailRefused() async throws {
        let dir = try temporaryDirectory()
        let path = dir.appendingPathComponent("events.jsonl").path
        let store = try StateStore.inMemory()
        let sealing = AuditSeal.Settings(directory: dir.path, interval: .seconds(3600))
        let sink = FileSink(name: "audit", configuration: .init(path: path), store: store, sealing: sealing)
        for i in 1...3 { try await sink.deliver(makeEvent(app: "app\(i)", version: i)) }
        let head = try #require(try store.auditHead(sink: "audit"))
        // Someone without the key appends a well-chained line with a made-up seal.
        let current = try AuditSeal.read(AuditSeal.files(in: dir.path, sink: "audit").sealing)
        let (forged, _) = AuditChain.line(
            for: makeEvent(app: "intruder", version: 9),
            seq: head.seq + 1,
            prev: head.hash,
            epoch: current.epoch,
            sign: { _ in String(repeating: "0", count: 64) }
        )
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try handle.seekToEnd()
        try handle.write(contentsOf: forged + Data("\n".utf8))
        try handle.close()
        let restarted = FileSink(name: "audit", configuration: .init(path: path), store: store, sealing: sealing)
        let refused = await #expect(throws: DeliveryError.self) {
            try await restarted.deliver(makeEvent(app: "next", version: 10))
        }
        #expect(
            refused?.message.contains("failed verification: the line's seal does not verify") == true,
            "\(String(describing: refused))"
        )
    }

    @Test("a line that fails to be written at an epoch change does not cost the key its bridge")
    func failedWriteAtEpochChange() async throws {
        let dir = try temporaryDirectory()
        let real = dir.appendingPathComponent("events.real").path
        let path = dir.appendingPathComponent("events.jsonl").path
        try FileManager.default.createSymbolicLink(atPath: path, withDestinationPath: real)
        let clock = TestClock()
        let sealing = AuditSeal.Settings(
            directory: dir.path,
            interval: .seconds(3600),
            now: { clock.now.withLock { $0 } }
        )
        let sink = FileSink(
            name: "audit",
            configuration: .init(path: path),
            store: try StateStore.inMemory(),
            sealing: sealing
        )
        try await sink.deliver(makeEvent(app: "a", version: 1))
        clock.advance(2 * 3600 + 1)
        // The next line, in a new epoch, hits a full disk.
        try FileManager.default.removeItem(atPath: path)
        try FileManager.default.createSymbolicLink(atPath: path, withDestinationPath: "/dev/full")
        await sink.reopen()
        await #expect(throws: DeliveryError.self) { try await sink.deliver(makeEvent(app: "b", version: 2)) }
        // Room again: the line goes out, bridged from epoch 0, and the whole file verifies.
        try FileManager.default.removeItem(atPath: path)
        try FileManager.default.createSymbolicLink(atPath: path, withDestinationPath: real)
        await sink.reopen()
        try await sink.deliver(makeEvent(app: "b", version: 2))
        let key = try AuditSeal.read(AuditSeal.files(in: dir.path, sink: "audit").verification)
        let verdict = AuditChain.verify(files: [(real, try Data(contentsOf: URL(fileURLWithPath: real)))], key: key)
        #expect(verdict.isIntact, "\(verdict)")
        #expect(verdict.sealsVerified == 2)
    }

    @Test("two file sinks in one state directory keep their own keys, so one moving on never breaks the other's bridge")
    func twoSinks() async throws {
        let dir = try temporaryDirectory()
        let clock = TestClock()
        let sealing = AuditSeal.Settings(
            directory: dir.path,
            interval: .seconds(3600),
            now: { clock.now.withLock { $0 } }
        )
        func sink(_ name: String) -> FileSink {
            FileSink(
                name: name,
                configuration: .init(path: dir.appendingPathComponent("\(name).jsonl").path),
                store: try! StateStore.inMemory(),
                sealing: sealing
            )
        }
        let (first, second) = (sink("first"), sink("second"))
        try await first.deliver(makeEvent(app: "a", version: 1))
        try await second.deliver(makeEvent(app: "a", version: 1))
        clock.advance(3 * 3600 + 1)
        try await first.deliver(makeEvent(app: "b", version: 2))  // first moves to epoch 3
        clock.advance(-3600)  // and the clock goes back an hour
        try await second.deliver(makeEvent(app: "b", version: 2))
        for name in ["first", "second"] {
            let path = dir.appendingPathComponent("\(name).jsonl").path
            let key = try AuditSeal.read(AuditSeal.files(in: dir.path, sink: name).verification)
            let verdict = AuditChain.verify(files: [(path, try Data(contentsOf: URL(fileURLWithPath: path)))], key: key)
            #expect(verdict.isIntact && verdict.sealsVerified == 2, "\(name): \(verdict)")
        }
    }

    func join(_ lines: [Data]) -> Data {
        lines.reduce(into: Data()) {
            $0.append($1)
            $0.append(0x0A)
        }
    }

    @Test("lines are JSON, hash-chained, mode 0640, in a directory created on demand")
    func writes() async throws {
        let (path, lines, _) = try await writeChain(5)
        #expect(lines.count == 5)
        let first = try #require(try JSONSerialization.jsonObject(with: lines[0]) as? [String: Any])
        #expect(first["seq"] as? Int == 1)
        #expect(first["prev"] as? String == AuditChain.genesis)
        #expect((first["event"] as? [String: Any])?["type"] as? String == "compliance_application.status_changed")
        let second = try #require(try JSONSerialization.jsonObject(with: lines[1]) as? [String: Any])
        #expect(second["prev"] as? String == Hashing.sha256Hex(lines[0]))
        let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
        #expect(mode == 0o640)
        #expect(
            AuditChain.verify(files: [(path, join(lines))]).description == "OK: 5 lines, chain intact through seq 5"
        )
    }

    @Test("each kind of tampering is named at the first broken line")
    func tampering() async throws {
        let (_, lines, _) = try await writeChain(6)
        func verdict(_ changed: [Data], terminated: Bool = true) -> String {
            var data = join(changed)
            if !terminated { data.removeLast() }
            return AuditChain.verify(files: [("f", data)]).description
        }
        var edited = lines
        edited[2] = Data(
            String(decoding: lines[2], as: UTF8.self).replacingOccurrences(of: "accepted", with: "rejected").utf8
        )
        #expect(verdict(edited) == "BROKEN: f:3: edited: the line's content does not match its hash")

        var deleted = lines
        deleted.remove(at: 3)
        #expect(verdict(deleted).hasPrefix("BROKEN: f:4: deleted: seq 5 follows 3"))

        var reordered = lines
        reordered.swapAt(1, 2)
        #expect(verdict(reordered).hasPrefix("BROKEN: f:2: reordered"))

        var inserted = lines
        inserted.insert(lines[1], at: 4)
        #expect(verdict(inserted).hasPrefix("BROKEN: f:5: inserted"))

        var forged = lines
        let (fake, _) = AuditChain.line(
            for: makeEvent(to: "accepted", version: 99),
            seq: 4,
            prev: Hashing.sha256Hex(lines[2])
        )
        forged[3] = fake  // a self-consistent line replacing the real one: the next line's prev no longer matches
        #expect(verdict(forged).hasPrefix("BROKEN: f:5: inserted: prev does not match"))

        var cut = lines
        cut[5] = cut[5].prefix(40)
        #expect(verdict(cut, terminated: false) == "BROKEN: f:6: truncated: the last line is cut short")
    }

    @Test(
        "two hosts' files merge by seq in any order: a line written twice counts once, a failover's leftover is accepted when its event was written again, any other second line for a seq is a break"
    )
    func hostsMerge() {
        // Host A writes 1–3, and 4 (event E), then dies before recording 4. Host B continues from
        // the recorded head 3: F at 4, then E again at 5; A, back as leader later, continues at 6.
        let events = (1...6).map { makeEvent(app: "app-\($0)", to: "accepted", version: $0) }
        var lines: [Data] = []
        var prev = AuditChain.genesis
        for (seq, event) in zip(1..., events.prefix(3)) {
            let (line, hash) = AuditChain.line(for: event, seq: seq, prev: prev)
            lines.append(line)
            prev = hash
        }
        let head3 = prev
        let (leftover, _) = AuditChain.line(for: events[4], seq: 4, prev: head3)
        let (f4, h4) = AuditChain.line(for: events[3], seq: 4, prev: head3)
        let (e5, h5) = AuditChain.line(for: events[4], seq: 5, prev: h4)
        let (a6, _) = AuditChain.line(for: events[5], seq: 6, prev: h5)
        let hostA = join([lines[0], lines[1], lines[2], leftover, a6])
        let hostB = join([lines[2], f4, e5])  // line 3 is written by both hosts: B redelivered it
        for order in [[("a", hostA), ("b", hostB)], [("b", hostB), ("a", hostA)]] {
            let verdict = AuditChain.verify(files: order)
            #expect(verdict.isIntact, "\(verdict)")
            #expect(verdict.lastSeq == 6)
            #expect(verdict.duplicates == 1 && verdict.leftovers == 1, "\(verdict)")
        }
        // A second line for seq 4 whose event is nowhere else is not a leftover: someone wrote it.
        let (stranger, _) = AuditChain.line(for: makeEvent(app: "intruder", version: 9), seq: 4, prev: head3)
        let forged = join([lines[0], lines[1], lines[2], stranger, a6])
        #expect(
            AuditChain.verify(files: [("a", forged), ("b", hostB)]).description.hasPrefix(
                "BROKEN: a:4: inserted: a second line for seq 4"
            )
        )
    }

    @Test(
        "two hosts on one store continue one sealed chain in their own files; the next line's epoch and bridge follow the other host's last line"
    )
    func hostsShareSealedChain() async throws {
        let dir = try temporaryDirectory()
        let store = try StateStore.inMemory()
        let seed = Data(repeating: 9, count: 32)
        let clock = Mutex(Date(timeIntervalSince1970: 1_800_000_000))
        func sink(_ host: String) throws -> FileSink {
            let keys = dir.appendingPathComponent("keys-\(host)")
            try FileManager.default.createDirectory(at: keys, withIntermediateDirectories: true)
            return FileSink(
                name: "audit",
                configuration: .init(path: dir.appendingPathComponent("\(host).jsonl").path),
                store: store,
                sealing: .init(
                    directory: keys.path,
                    interval: .seconds(3600),
                    seed: seed,
                    now: { clock.withLock { $0 } }
                ),
                host: host
            )
        }
        let a = try sink("a"), b = try sink("b")
        func later(_ hours: Double) { clock.withLock { $0 = $0.addingTimeInterval(hours * 3600) } }
        try await a.deliver(makeEvent(app: "e1", version: 1))  // a's epoch 0
        later(2)
        try await b.deliver(makeEvent(app: "e2", version: 1))  // b's key starts now: its own epoch 0
        later(1)
        try await a.deliver(makeEvent(app: "e3", version: 1))  // a's epoch 3, bridged from 0
        later(1)
        try await b.deliver(makeEvent(app: "e4", version: 1))  // b's own epoch 2, but the chain is at 3
        let files = ["a", "b"].map { host in
            (host, FileManager.default.contents(atPath: dir.appendingPathComponent("\(host).jsonl").path) ?? Data())
        }
        let verdict = AuditChain.verify(files: files, key: AuditSeal.Key(epoch: 0, key: seed, start: 0, interval: 3600))
        #expect(verdict.isIntact, "\(verdict)")
        #expect(verdict.lastSeq == 4 && verdict.sealsVerified == 4, "\(verdict)")
        #expect(try store.auditHead(sink: "audit")?.epoch == 3)
    }

    @Test("truncation at a line boundary is caught with the head from the state database")
    func truncationAgainstHead() async throws {
        let store = try StateStore.inMemory()
        let (path, lines, _) = try await writeChain(4, store: store)
        let head = try #require(try store.auditHead(sink: "audit"))
        #expect(head.seq == 4)
        #expect(head.hash == Hashing.sha256Hex(lines[3]))
        #expect(AuditChain.verify(files: [(path, join(lines))], head: head).isIntact)
        let verdict = AuditChain.verify(files: [(path, join(Array(lines.prefix(3))))], head: head)
        #expect(
            verdict.description
                == "BROKEN: \(path):3: truncated: the state database records seq 4, but the files end at seq 3"
        )
    }

    @Test("after rotation and reopen the chain continues into the new file")
    func rotation() async throws {
        let store = try StateStore.inMemory()
        let (path, _, sink) = try await writeChain(3, store: store)
        try FileManager.default.moveItem(atPath: path, toPath: path + ".1")
        await sink.reopen()
        try await sink.deliver(makeEvent(version: 10))
        try await sink.deliver(makeEvent(version: 11))
        let old = try #require(FileManager.default.contents(atPath: path + ".1"))
        let new = try #require(FileManager.default.contents(atPath: path))
        let verdict = AuditChain.verify(
            files: [(path + ".1", old), (path, new)],
            head: try store.auditHead(sink: "audit")
        )
        #expect(verdict.description == "OK: 5 lines, chain intact through seq 5")
        // Alone, the new file verifies as the continuation it is: it starts at seq 4.
        let alone = try #require(
            try JSONSerialization.jsonObject(with: new.split(separator: 0x0A)[0]) as? [String: Any]
        )
        #expect(alone["seq"] as? Int == 4)
        // A restarted sink (new process) picks the chain up from the file and the database.
        let restarted = FileSink(name: "audit", configuration: .init(path: path), store: store)
        try await restarted.deliver(makeEvent(version: 12))
        let all = try #require(FileManager.default.contents(atPath: path))
        #expect(AuditChain.verify(files: [(path + ".1", old), (path, all)]).lastSeq == 6)
    }

    @Test("concurrent deliveries share fsyncs and keep the chain")
    func concurrent() async throws {
        let dir = try temporaryDirectory()
        let path = dir.appendingPathComponent("events.jsonl").path
        // The first fsync takes a while, as on a real disk, so later appends find one in flight.
        let first = Mutex(true)
        let syncer = Syncer { _ in
            if first.withLock({
                let was = $0
                $0 = false
                return was
            }) {
                usleep(50_000)
            }
        }
        let sink = FileSink(name: "audit", configuration: .init(path: path), store: nil, syncer: syncer)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<200 { group.addTask { try await sink.deliver(makeEvent(app: "a\(i)", version: i)) } }
            try await group.waitForAll()
        }
        let data = try #require(FileManager.default.contents(atPath: path))
        #expect(AuditChain.verify(files: [(path, data)]).description == "OK: 200 lines, chain intact through seq 200")
        #expect(syncer.count >= 1)
        #expect(syncer.count < 100, "200 deliveries shared \(syncer.count) fsyncs")
    }

    @Test(
        "a reopen during an fsync in flight waits for it: the old file's lines are on disk before their deliveries count"
    )
    func reopenDuringFsync() async throws {
        let store = try StateStore.inMemory()
        let dir = try temporaryDirectory()
        let path = dir.appendingPathComponent("events.jsonl").path
        let gate = DispatchSemaphore(value: 0)
        let state = Mutex((hold: false, entered: false, results: [Int32: Int32]()))
        let syncer = Syncer { fd in
            let hold = state.withLock { s -> Bool in
                if s.hold { s.entered = true }
                return s.hold
            }
            if hold { gate.wait() }
            // Whether the descriptor is still the open file it was: EBADF once closed under us.
            let ok = fcntl(fd, F_GETFD) >= 0
            state.withLock { $0.results[fd] = ok ? 0 : EBADF }
        }
        let sink = FileSink(name: "audit", configuration: .init(path: path), store: store, syncer: syncer)
        try await sink.deliver(makeEvent(app: "a", version: 1))
        state.withLock { $0.hold = true }
        let inFlight = Task { try await sink.deliver(makeEvent(app: "b", version: 2)) }
        for _ in 0..<500 where !state.withLock({ $0.entered }) { try await Task.sleep(for: .milliseconds(10)) }
        #expect(state.withLock { $0.entered }, "the fsync is in flight")

        // logrotate moves the file and the daemon reopens (SIGHUP) while that fsync waits.
        try FileManager.default.moveItem(atPath: path, toPath: path + ".1")
        await sink.reopen()
        state.withLock { $0.hold = false }
        gate.signal()
        try await inFlight.value
        #expect(state.withLock { $0.results.values.allSatisfy { $0 == 0 } }, "no fsync met a closed descriptor")

        try await sink.deliver(makeEvent(app: "c", version: 3))
        let old = try #require(FileManager.default.contents(atPath: path + ".1"))
        let new = try #require(FileManager.default.contents(atPath: path))
        #expect(old.split(separator: 0x0A).count == 2)
        #expect(
            AuditChain.verify(files: [(path + ".1", old), (path, new)], head: try store.auditHead(sink: "audit"))
                .description
                == "OK: 3 lines, chain intact through seq 3"
        )
    }

    @Test("a full disk is a retryable error naming the file")
    func diskFull() async throws {
        let sink = FileSink(name: "audit", configuration: .init(path: "/dev/full"), store: nil)
        let error = await #expect(throws: DeliveryError.self) { try await sink.deliver(makeEvent()) }
        #expect(error?.isRetryable == true)
        #expect(error?.message == "cannot write to /dev/full: No space left on device")
    }

    @Test("an unwritable directory is a clear error")
    func unwritable() async throws {
        let sink = FileSink(name: "audit", configuration: .init(path: "/proc/cw-nope/events.jsonl"), store: nil)
        let error = await #expect(throws: DeliveryError.self) { try await sink.deliver(makeEvent()) }
        #expect(error?.message.hasPrefix("cannot create the directory of /proc/cw-nope/events.jsonl:") == true)
    }
}
