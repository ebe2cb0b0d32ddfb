import Foundation
import CurlHTTP

/// Any JSON value, for fields whose type varies between real responses (`proof_required`, `error`).
public enum JSONValue: Sendable, Hashable, Codable, CustomStringConvertible {
    case string(String)
    case number(Double)
    case bool(Bool)
    case object([String: JSONValue])
    case array([JSONValue])
    case null

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        // Most values are strings: try that first, since every failed attempt costs a thrown error.
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Double.self) {
            self = .number(value)
        } else if let value = try? container.decode([JSONValue].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .string(let value): try container.encode(value)
        case .number(let value): try container.encode(value)
        case .bool(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .null: try container.encodeNil()
        }
    }

    /// The value as text: strings as they are, numbers and booleans printed, `nil` for null.
    public var stringValue: String? {
        switch self {
        case .string(let value): value
        case .number(let value): value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(value)
        case .bool(let value): String(value)
        case .null: nil
        case .object, .array: description
        }
    }

    public var description: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(self)).map { String(decoding: $0, as: UTF8.self) } ?? "null"
    }
}

extension KeyedDecodingContainer {
    /// A string where `null`, `""`, a missing key and a wrong type all mean "absent".
    /// Numbers and booleans are accepted as their text.
    func lenientString(_ key: Key) -> String? {
        // Fast path: a string, null or nothing. Only other types take the slower general route.
        if let text = try? decodeIfPresent(String.self, forKey: key) { return text.isEmpty ? nil : text }
        guard contains(key), let value = try? decodeIfPresent(JSONValue.self, forKey: key) else { return nil }
        switch value {
        case .object, .array, .null: return nil
        default:
            guard let text = value.stringValue, !text.isEmpty else { return nil }
            return text
        }
    }

    /// A string that must be there: missing, `null`, another type and `""` all throw.
    func requiredString(_ key: Key) throws -> String {
        let value: String?
        do {
            value = try decodeIfPresent(String.self, forKey: key)
        } catch {
            throw DecodingError.typeMismatch(
                String.self,
                .init(codingPath: codingPath + [key], debugDescription: "\(key.stringValue) is not a string")
            )
        }
        guard let value, !value.trimmingWhitespace().isEmpty else {
            throw DecodingError.valueNotFound(
                String.self,
                .init(codingPath: codingPath + [key], debugDescription: "\(key.stringValue) is missing, null or empty")
            )
        }
        return value
    }

    /// The first present key of several spellings (the document list/get split).
    func lenientString(_ keys: Key...) -> String? {
        keys.lazy.compactMap { self.lenientString($0) }.first
    }

    /// An integer given as a number or as a numeric string.
    func lenientInt(_ key: Key) -> Int? {
        if let number = try? decodeIfPresent(Int.self, forKey: key) { return number }
        guard let value = try? decodeIfPresent(JSONValue.self, forKey: key) else { return nil }
        switch value {
        case .number(let number): return Int(exactly: number.rounded())
        case .string(let text): return Int(text.trimmingWhitespace())
        default: return nil
        }
    }

    /// An array whose elements that fail to decode are skipped rather than failing the whole object.
    func lenientArray<T: Decodable>(_ type: T.Type, _ key: Key) -> [T] {
        guard var container = try? nestedUnkeyedContainer(forKey: key) else { return [] }
        var result: [T] = []
        while !container.isAtEnd {
            if let element = try? container.decode(T.self) {
                result.append(element)
            } else {
                _ = try? container.decode(JSONValue.self)  // step over the bad element
            }
        }
        return result
    }

    /// A string-to-string map; non-string values are kept as their text.
    func lenientStringMap(_ key: Key) -> [String: String] {
        guard case .object(let object)? = try? decodeIfPresent(JSONValue.self, forKey: key) else { return [:] }
        return object.compactMapValues(\.stringValue)
    }

    /// A timestamp in any of the forms Plivo sends; `nil` only when absent or empty.
    func lenientTimestamp(_ key: Key) -> PlivoTimestamp? {
        lenientString(key).map(PlivoTimestamp.init(raw:))
    }
}
