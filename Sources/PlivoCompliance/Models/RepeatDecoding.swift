import Foundation
import Synchronization

/// Decodes list pages whose objects were seen before without decoding those objects again.
///
/// A hot scan lists the same few hundred changeable applications every few seconds, and almost
/// all of them come back byte for byte as they were. Decoding is a pure function of the bytes,
/// so an object whose bytes equal ones decoded before decodes to the same value: this keeps the
/// values of the objects seen in the last two generations of ``generationSize`` inserts, keyed
/// by their exact bytes, and decodes only the rest.
///
/// A page is accepted exactly when a plain decode would accept it: the whole body is parsed as
/// JSON for the envelope (`meta`, and `objects` as a list of objects), and every object not
/// found is decoded strictly. When the quick split of `objects` disagrees with the envelope, or
/// an object fails, the page is decoded the plain way, which then succeeds or throws its error.
final class RepeatDecoder<Element: Decodable & Sendable>: Sendable {
    /// Inserts per generation; two generations are kept.
    let generationSize: Int
    private let generations = Mutex<(current: [Data: Element], previous: [Data: Element])>(([:], [:]))

    init(generationSize: Int = 4096) {
        self.generationSize = generationSize
    }

    /// How many values are kept (for tests).
    var count: Int { generations.withLock { $0.current.count + $0.previous.count } }

    /// Decodes a page, reusing values for objects seen before.
    func decodePage(_ body: Data) throws -> Page<Element> {
        let decoder = JSONDecoder()
        guard let slices = JSONObjectList.elements(of: "objects", in: body) else {
            return try decoder.decode(Page<Element>.self, from: body)
        }
        let envelope = try decoder.decode(Page<OpaqueObject>.self, from: body)
        guard envelope.objects.count == slices.count else { return try decoder.decode(Page<Element>.self, from: body) }
        var objects: [Element] = []
        objects.reserveCapacity(slices.count)
        for range in slices {
            let bytes = body[range]
            if let known = lookup(bytes) {
                objects.append(known)
                continue
            }
            guard let decoded = try? decoder.decode(Element.self, from: bytes) else {
                return try decoder.decode(Page<Element>.self, from: body)
            }
            insert(Data(bytes), decoded)
            objects.append(decoded)
        }
        let m = envelope.meta
        return Page<Element>(
            apiId: envelope.apiId,
            meta: .init(limit: m.limit, offset: m.offset, totalCount: m.totalCount, next: m.next, previous: m.previous),
            objects: objects
        )
    }

    private func lookup(_ bytes: Data) -> Element? {
        generations.withLock { g in
            if let value = g.current[bytes] { return value }
            guard let value = g.previous[bytes] else { return nil }
            g.current[Data(bytes)] = value  // seen again: keep it another generation
            return value
        }
    }

    private func insert(_ bytes: Data, _ value: Element) {
        generations.withLock { g in
            if g.current.count >= generationSize {
                g.previous = g.current
                g.current = [:]
            }
            g.current[bytes] = value
        }
    }
}

/// Any JSON object, not looked into: the envelope decode only checks that each element is one.
struct OpaqueObject: Decodable, Sendable {
    struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init?(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    init(from decoder: any Decoder) throws {
        _ = try decoder.container(keyedBy: AnyKey.self)
    }
}

/// Finds the byte ranges of the elements of one array member of a top-level JSON object,
/// without decoding them.
enum JSONObjectList {
    /// The ranges of the elements of the array at top-level key `key`, or `nil` when `body` is
    /// not a JSON object with such an array (the caller then decodes the plain way).
    static func elements(of key: String, in body: Data) -> [Range<Data.Index>]? {
        body.withUnsafeBytes { raw -> [Range<Int>]? in
            let bytes = raw.bindMemory(to: UInt8.self)
            var i = 0
            let n = bytes.count
            func skipSpace() {
                while i < n, bytes[i] == 0x20 || bytes[i] == 0x0A || bytes[i] == 0x0D || bytes[i] == 0x09 { i += 1 }
            }
            /// Past a string starting at i (a quote); false if it never ends.
            func skipString() -> Bool {
                i += 1
                while i < n {
                    switch bytes[i] {
                    case UInt8(ascii: "\\"): i += 2
                    case UInt8(ascii: "\""):
                        i += 1
                        return true
                    default: i += 1
                    }
                }
                return false
            }
            /// Past one value of any kind; false when the bytes end first.
            func skipValue() -> Bool {
                skipSpace()
                guard i < n else { return false }
                if bytes[i] == UInt8(ascii: "\"") { return skipString() }
                guard bytes[i] == UInt8(ascii: "{") || bytes[i] == UInt8(ascii: "[") else {
                    // A number, true, false or null: up to the next delimiter.
                    while i < n, bytes[i] != UInt8(ascii: ","), bytes[i] != UInt8(ascii: "}"),
                        bytes[i] != UInt8(ascii: "]")
                    { i += 1 }
                    return true
                }
                var depth = 0
                while i < n {
                    switch bytes[i] {
                    case UInt8(ascii: "\""):
                        guard skipString() else { return false }
                        continue
                    case UInt8(ascii: "{"), UInt8(ascii: "["): depth += 1
                    case UInt8(ascii: "}"), UInt8(ascii: "]"):
                        depth -= 1
                        if depth == 0 {
                            i += 1
                            return true
                        }
                    default: break
                    }
                    i += 1
                }
                return false
            }
            let wanted = Array(key.utf8)
            skipSpace()
            guard i < n, bytes[i] == UInt8(ascii: "{") else { return nil }
            i += 1
            while true {
                skipSpace()
                guard i < n, bytes[i] == UInt8(ascii: "\"") else { return nil }
                let nameStart = i + 1
                guard skipString() else { return nil }
                let isWanted =
                    i - 1 - nameStart == wanted.count
                    && wanted.indices.allSatisfy { bytes[nameStart + $0] == wanted[$0] }
                skipSpace()
                guard i < n, bytes[i] == UInt8(ascii: ":") else { return nil }
                i += 1
                skipSpace()
                if isWanted {
                    guard i < n, bytes[i] == UInt8(ascii: "[") else { return nil }
                    i += 1
                    var ranges: [Range<Int>] = []
                    skipSpace()
                    if i < n, bytes[i] == UInt8(ascii: "]") { return ranges }
                    while true {
                        skipSpace()
                        let start = i
                        guard skipValue() else { return nil }
                        ranges.append(start..<i)
                        skipSpace()
                        guard i < n else { return nil }
                        if bytes[i] == UInt8(ascii: "]") { return ranges }
                        guard bytes[i] == UInt8(ascii: ",") else { return nil }
                        i += 1
                    }
                }
                guard skipValue() else { return nil }
                skipSpace()
                guard i < n, bytes[i] == UInt8(ascii: ",") else { return nil }
                i += 1
            }
        }.map { ranges in ranges.map { (body.startIndex + $0.lowerBound)..<(body.startIndex + $0.upperBound) } }
    }
}
