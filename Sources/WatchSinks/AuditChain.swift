import Foundation
import WatchCore

/// The audit file's hash chain.
///
/// Each line is `{"seq":N,"prev":"<sha256 of the previous line>","hash":"<sha256 of this line
/// without its hash field>","event":{…}}`. The first line of a chain has `prev` = 64 zeros; a
/// rotated file continues the chain of the one before it. Editing, deleting, reordering or
/// inserting a line breaks either its own hash or the next line's `prev`/`seq`; truncation is
/// caught by comparing with the head the daemon records in its state database.
public enum AuditChain {
    /// The `prev` of the first line ever: 64 zeros.
    public static let genesis = String(repeating: "0", count: 64)

    /// Builds the line (without the newline) that follows `previous`; sealed when `epoch` and
    /// `sign` are given (``AuditSeal``): `sign` returns the seal of the line's content.
    /// - Returns: The line, and the SHA-256 of the line's bytes (the next line's `prev`).
    /// A line that opens a later epoch than the line before it carries `bridge` (``AuditSeal``).
    public static func line(
        for event: Event,
        seq: Int,
        prev: String,
        epoch: Int? = nil,
        bridge: String? = nil,
        sign: ((Data) throws -> String)? = nil
    ) rethrows -> (line: Data, lineHash: String) {
        let prefix =
            Data(#"{"seq":\#(seq),"prev":"\#(prev)","#.utf8) + (epoch.map { Data(#""epoch":\#($0),"#.utf8) } ?? Data())
            + (bridge.map { Data(#""bridge":"\#($0)","#.utf8) } ?? Data())
        let suffix = Data(#""event":"#.utf8) + event.canonicalJSON() + Data("}".utf8)
        let content = prefix + suffix
        let hash = Hashing.sha256Hex(content)
        let mac = try sign.map { try $0(content) }
        let line =
            prefix + Data(#""hash":"\#(hash)","#.utf8) + (mac.map { Data(#""mac":"\#($0)","#.utf8) } ?? Data()) + suffix
        return (line, Hashing.sha256Hex(line))
    }

    /// How a chain is broken.
    public enum Break: String, Sendable {
        case edited, deleted, reordered, inserted, truncated
        /// A seal that does not verify: the line was rewritten, or sealed with a key it may not have.
        case forged
    }

    /// The outcome of ``verify(files:head:)``.
    public struct Verdict: Sendable, CustomStringConvertible {
        /// Lines read.
        public var lines: Int
        /// The last line's `seq`.
        public var lastSeq: Int
        /// The first break: where, what kind, and detail.
        public var problem: (file: String, line: Int, kind: Break, detail: String)?

        /// Whether the chain held throughout.
        public var isIntact: Bool { problem == nil }
        /// Sealed lines whose seal was checked and holds.
        public var sealsVerified = 0
        /// Sealed lines whose seal could not be checked (no key, or a key for a later epoch).
        public var sealsUnchecked = 0
        /// The `seq` of the first and last of them.
        public var uncheckedRange: ClosedRange<Int>?
        /// Lines without a seal (written before sealing existed, or with sealing off).
        public var unsealed = 0
        /// Lines found again, identical, in another file (written by two hosts across a failover).
        public var duplicates = 0
        /// Lines a leader wrote and never recorded before it lost the lease: a branch the chain
        /// does not go on from, whose event the next leader wrote again.
        public var leftovers = 0

        /// One line on what the seals say, for `audit verify`.
        public var sealSummary: String {
            var parts: [String] = []
            if sealsVerified > 0 { parts.append("seals verified on \(sealsVerified) lines") }
            if sealsUnchecked > 0 {
                let range =
                    uncheckedRange.map {
                        $0.lowerBound == $0.upperBound
                            ? " (seq \($0.lowerBound))" : " (seq \($0.lowerBound)–\($0.upperBound))"
                    } ?? ""
                parts.append("\(sealsUnchecked) sealed lines only chain-checked\(range): no key for their epoch")
            }
            if unsealed > 0 {
                parts.append(
                    "warning: \(unsealed) lines are unsealed (a plain chain: written before sealing, or with it off)"
                )
            }
            return parts.joined(separator: "; ")
        }

        public var description: String {
            var notes: [String] = []
            if duplicates > 0 { notes.append("\(duplicates) written twice, identical") }
            if leftovers > 0 { notes.append("\(leftovers) left over from a failover, their events written again") }
            let twice = notes.isEmpty ? "" : " (" + notes.joined(separator: "; ") + ")"
            guard let problem else { return "OK: \(lines) lines, chain intact through seq \(lastSeq)\(twice)" }
            return "BROKEN: \(problem.file):\(problem.line): \(problem.kind.rawValue): \(problem.detail)"
        }
    }

    struct ParsedLine {
        var seq: Int
        var prev: String
        var hash: String
        var content: Data
        var epoch: Int?
        var mac: String?
        var bridge: String?
    }

    static func parse(_ raw: Data) -> ParsedLine? {
        guard let object = try? JSONSerialization.jsonObject(with: raw) as? [String: Any],
            let seq = object["seq"] as? Int, let prev = object["prev"] as? String, let hash = object["hash"] as? String,
            let range = raw.range(of: Data(#""hash":"\#(hash)","#.utf8))
        else { return nil }
        var content = raw
        content.removeSubrange(range)
        let mac = object["mac"] as? String
        if let mac {
            guard let macRange = content.range(of: Data(#""mac":"\#(mac)","#.utf8)) else { return nil }
            content.removeSubrange(macRange)
        }
        return ParsedLine(
            seq: seq,
            prev: prev,
            hash: hash,
            content: content,
            epoch: object["epoch"] as? Int,
            mac: mac,
            bridge: object["bridge"] as? String
        )
    }

    /// The `seq` and the event of one audit line; `nil` when it is not one.
    public static func decode(line: some DataProtocol) -> (seq: Int, event: Event)? {
        guard let object = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any],
            let seq = object["seq"] as? Int, let body = object["event"],
            let json = try? JSONSerialization.data(withJSONObject: body),
            let event = try? Event.decode(json)
        else { return nil }
        return (seq, event)
    }

    /// The `seq` and event id of every line that parses, in file order.
    public static func entries(_ data: Data) -> [(seq: Int, eventId: String)] {
        data.split(separator: 0x0A).compactMap { line in
            guard let object = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any],
                let seq = object["seq"] as? Int, let event = object["event"] as? [String: Any],
                let id = event["id"] as? String
            else { return nil }
            return (seq, id)
        }
    }

    /// Verifies files, optionally against the head recorded by the daemon, and the seals with
    /// `key` (a verification key checks every epoch; a sealing key, its own epoch and later ones).
    ///
    /// The files are merged by `seq`, each read in its own order: rotated files may come in any
    /// order, and so may the files of several hosts that took turns leading, each holding the
    /// lines it wrote. A line found twice, identical, is counted once (written by two hosts
    /// across a failover); two different lines with one `seq` are a break.
    public static func verify(
        files: [(name: String, data: Data)],
        head: AuditHead? = nil,
        key: AuditSeal.Key? = nil
    ) -> Verdict {
        var verdict = Verdict(lines: 0, lastSeq: 0, problem: nil)
        var lastEpoch: Int?
        var keys: [Int: Data] = [:]
        var expectedSeq: Int?
        var prevHash: String?
        var headLineHash: String?
        struct Cursor {
            var name: String
            var lines: [Data]
            var parsed: [ParsedLine?]
            var endsWithNewline: Bool
            var next = 0
        }
        var cursors = files.map { name, data in
            var lines = data.split(separator: 0x0A, omittingEmptySubsequences: false).map { Data($0) }
            let endsWithNewline = data.last == 0x0A
            if endsWithNewline || data.isEmpty { lines.removeLast() }
            return Cursor(name: name, lines: lines, parsed: lines.map(parse), endsWithNewline: endsWithNewline)
        }
        // Every line's prev: a line no other line names as its prev ends a branch. Two hosts
        // can write different lines with one seq across a failover (the old leader's last line,
        // never recorded); the chain goes on from one of them.
        let prevs = Set(cursors.flatMap { $0.parsed.compactMap { $0?.prev } })
        var orphans: [(file: String, line: Int, raw: Data)] = []
        while true {
            // The file whose next line has the lowest seq, preferring at a tie the line the chain
            // goes on from; a line that does not parse is taken at once, to be reported.
            var pick: Int?
            var pickContinues = false
            for (i, cursor) in cursors.enumerated() where cursor.next < cursor.lines.count {
                guard let seq = cursor.parsed[cursor.next]?.seq else {
                    pick = i
                    break
                }
                if let current = pick, let best = cursors[current].parsed[cursors[current].next]?.seq {
                    if best < seq { continue }
                    if best == seq {
                        if pickContinues { continue }
                        guard prevs.contains(Hashing.sha256Hex(cursor.lines[cursor.next])) else { continue }
                        pickContinues = true
                    }
                }
                pick = i
            }
            guard let pick else { break }
            let index = cursors[pick].next
            cursors[pick].next += 1
            let (name, lines, parsed, endsWithNewline) = (
                cursors[pick].name, cursors[pick].lines, cursors[pick].parsed, cursors[pick].endsWithNewline
            )
            let raw = lines[index]
            let number = index + 1
            guard let line = parsed[index] else {
                let kind: Break = index == lines.count - 1 && !endsWithNewline ? .truncated : .edited
                verdict.problem = (
                    name, number, kind, kind == .truncated ? "the last line is cut short" : "not a valid audit line"
                )
                return verdict
            }
            if Hashing.sha256Hex(line.content) != line.hash {
                verdict.problem = (name, number, .edited, "the line's content does not match its hash")
                return verdict
            }
            let rawHash = Hashing.sha256Hex(raw)
            if let expected = expectedSeq, line.seq == expected - 1 {
                if rawHash == prevHash {
                    verdict.duplicates += 1
                    continue
                }
                if !prevs.contains(rawHash) {
                    orphans.append((name, number, raw))
                    continue
                }
            }
            if let expected = expectedSeq {
                if line.seq > expected {
                    // A later number here: lines were moved (the expected one comes later) or removed.
                    let movedLater = parsed[(index + 1)...].contains { $0?.seq == expected }
                    verdict.problem =
                        movedLater
                        ? (name, number, .reordered, "seq \(line.seq) appears where \(expected) belongs")
                        : (
                            name, number, .deleted,
                            "seq \(line.seq) follows \(expected - 1): \(line.seq - expected) line(s) missing"
                        )
                    return verdict
                }
                if line.seq < expected {
                    verdict.problem = (
                        name, number, .inserted, "seq \(line.seq) repeats an earlier line's number with other content"
                    )
                    return verdict
                }
                if line.prev != prevHash {
                    verdict.problem = (name, number, .inserted, "prev does not match the hash of the line before it")
                    return verdict
                }
            } else if line.seq == 1, line.prev != genesis {
                verdict.problem = (name, number, .edited, "the first line of the chain must have prev = 0…0")
                return verdict
            }
            if let mac = line.mac, let epoch = line.epoch {
                if let lastEpoch, epoch < lastEpoch {
                    verdict.problem = (
                        name, number, .forged, "sealed in epoch \(epoch), after a line of epoch \(lastEpoch)"
                    )
                    return verdict
                }
                if let lastEpoch, epoch > lastEpoch {
                    // Entering a later epoch takes the earlier epoch's key: someone holding
                    // only today's key cannot move old lines into today's epoch.
                    guard let bridge = line.bridge else {
                        verdict.problem = (
                            name, number, .forged, "epoch \(lastEpoch) ends without a bridge into epoch \(epoch)"
                        )
                        return verdict
                    }
                    if let key, let oldKey = key.key(for: lastEpoch),
                        AuditSeal.mac(Data(line.prev.utf8), key: oldKey) != bridge
                    {
                        verdict.problem = (
                            name, number, .forged,
                            "the bridge from epoch \(lastEpoch) into epoch \(epoch) does not verify"
                        )
                        return verdict
                    }
                }
                lastEpoch = epoch
                if let key, epoch >= key.epoch {
                    let epochKey = keys[epoch] ?? key.key(for: epoch)!
                    keys[epoch] = epochKey
                    guard AuditSeal.mac(line.content, key: epochKey) == mac else {
                        verdict.problem = (
                            name, number, .forged,
                            "the line's seal does not verify (epoch \(epoch)): rewritten or forged"
                        )
                        return verdict
                    }
                    verdict.sealsVerified += 1
                } else {
                    verdict.sealsUnchecked += 1
                    verdict.uncheckedRange = (verdict.uncheckedRange?.lowerBound ?? line.seq)...line.seq
                }
            } else {
                if lastEpoch != nil {
                    verdict.problem = (name, number, .forged, "an unsealed line after sealed ones")
                    return verdict
                }
                verdict.unsealed += 1
            }
            expectedSeq = line.seq + 1
            prevHash = rawHash
            if line.seq == head?.seq { headLineHash = rawHash }
            verdict.lines += 1
            verdict.lastSeq = line.seq
        }
        // A branch's line is a failover's leftover only if its event is in the chain too (the
        // new leader delivered it again, as it was never recorded as delivered).
        if !orphans.isEmpty, verdict.problem == nil {
            var copies: [String: Int] = [:]
            for file in files { for entry in entries(file.data) { copies[entry.eventId, default: 0] += 1 } }
            for orphan in orphans {
                guard let event = decode(line: orphan.raw)?.event, copies[event.id, default: 0] > 1 else {
                    verdict.problem = (
                        orphan.file, orphan.line, .inserted,
                        "a second line for seq \(parse(orphan.raw)?.seq ?? 0) that the chain does not go on from, with an event found nowhere else"
                    )
                    return verdict
                }
                verdict.leftovers += 1
            }
        }
        if let head {
            if verdict.lastSeq < head.seq {
                verdict.problem = (
                    files.last?.name ?? "", verdict.lines, .truncated,
                    "the state database records seq \(head.seq), but the files end at seq \(verdict.lastSeq)"
                )
            } else if let headLineHash, headLineHash != head.hash {
                // Wherever it is: a rewritten chain with lines appended after it still carries
                // the recorded seq, but not the recorded line.
                verdict.problem = (
                    files.last?.name ?? "", verdict.lines, .edited,
                    "the line with seq \(head.seq) differs from the one the daemon recorded: the chain was rewritten"
                )
            }
        }
        return verdict
    }

    /// What a file sink may append after, from the end of its file and the last head it knows.
    public enum TailCheck: Equatable, Sendable {
        /// The file is consistent with the head: continue from this line.
        case continueFrom(AuditHead)
        /// The file is not the one the head describes; never append to it.
        case refused(String)
    }

    /// Checks the end of an audit file (`window`: its last bytes, complete lines only) against
    /// `known`, the newest head recorded (in the state database, or this process's own).
    ///
    /// The line with the known `seq` must be there with the known hash, and every line after it
    /// must chain from it; a new file (after rotation) may instead start right after the known
    /// head. A file rewritten from an earlier line (even with lines appended so that it is longer
    /// than the head) or one that ends before the head is refused, so a forged or damaged file is
    /// never extended. Without a known head, the window must at least chain on its own.
    public static func checkTail(window: Data, path: String, known: AuditHead?) -> TailCheck {
        let raws = window.split(separator: 0x0A).map { Data($0) }
        var lines: [(parsed: ParsedLine, hash: String)] = []
        for raw in raws {
            guard let parsed = parse(raw), Hashing.sha256Hex(parsed.content) == parsed.hash else {
                return .refused("a line near the end is not a valid audit line (edited or damaged)")
            }
            lines.append((parsed, Hashing.sha256Hex(raw)))
        }
        func chains(
            _ slice: ArraySlice<(parsed: ParsedLine, hash: String)>,
            from start: (seq: Int, hash: String)
        ) -> Bool {
            var previous = start
            for line in slice {
                guard line.parsed.seq == previous.seq + 1, line.parsed.prev == previous.hash else { return false }
                previous = (line.parsed.seq, line.hash)
            }
            return true
        }
        guard let last = lines.last else {
            return .continueFrom(known ?? AuditHead(seq: 0, hash: genesis, path: path))
        }
        let end = AuditHead(seq: last.parsed.seq, hash: last.hash, path: path)
        guard let known else {
            return chains(lines.dropFirst(), from: (lines[0].parsed.seq, lines[0].hash))
                ? .continueFrom(end) : .refused("the last lines do not chain")
        }
        if let index = lines.firstIndex(where: { $0.parsed.seq == known.seq }) {
            guard lines[index].hash == known.hash else {
                return .refused("the line with seq \(known.seq) differs from the one recorded: the chain was rewritten")
            }
            return chains(lines[(index + 1)...], from: (known.seq, known.hash))
                ? .continueFrom(end) : .refused("the lines after seq \(known.seq) do not chain from it")
        }
        if end.seq < known.seq {
            return .refused(
                "the file ends at seq \(end.seq), but seq \(known.seq) was recorded: it is truncated or an older file"
            )
        }
        if lines[0].parsed.seq == known.seq + 1, chains(lines[...], from: (known.seq, known.hash)) {
            return .continueFrom(end)  // a new file that continues the recorded head
        }
        return .refused("seq \(known.seq), recorded as the head, is not where the file says it should be")
    }
}
