import Foundation
internal import TOMLKit

/// A TOML value copied out of TOMLKit's tree into plain Swift values.
indirect enum TOMLNode: Sendable {
    case string(String)
    case int(Int)
    case double(Double)
    case bool(Bool)
    case array([TOMLNode])
    case table([String: TOMLNode])
    case other(String)

    var typeName: String {
        switch self {
        case .string: "a string"
        case .int: "an integer"
        case .double: "a number"
        case .bool: "a boolean"
        case .array: "an array"
        case .table: "a table"
        case .other(let name): "a \(name)"
        }
    }

    static func from(_ value: any TOMLValueConvertible) -> TOMLNode {
        switch value.type {
        case .string: return .string(value.string ?? "")
        case .int: return .int(value.int ?? 0)
        case .double: return .double(value.double ?? 0)
        case .bool: return .bool(value.bool ?? false)
        case .array: return .array(value.array.map { $0.map { from($0) } } ?? [])
        case .table:
            guard let table = value.table else { return .table([:]) }
            var result: [String: TOMLNode] = [:]
            for key in table.keys { if let child = table[key] { result[key] = from(child) } }
            return .table(result)
        default: return .other(value.type.rawValue)
        }
    }
}

/// Finds the line of a dotted key (`plivo.auth_id`, `sinks[2].path`) by reading the TOML text.
/// TOMLKit keeps no positions for values, so this follows table headers and `key =` lines.
struct LineLocator: Sendable {
    private var lines: [String: Int] = [:]

    init(text: String) {
        var section = ""
        var arrayCounts: [String: Int] = [:]
        var arrayPath: [String: String] = [:]  // "sinks" -> "sinks[2]"
        for (number, raw) in text.components(separatedBy: "\n").enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.hasPrefix("[[") {
                let name = line.dropFirst(2).prefix { $0 != "]" }.trimmingCharacters(in: .whitespaces)
                arrayCounts[name, default: 0] += 1
                section = "\(name)[\(arrayCounts[name]!)]"
                arrayPath[name] = section
                lines[section] = number + 1
            } else if line.hasPrefix("[") {
                let name = line.dropFirst().prefix { $0 != "]" }.trimmingCharacters(in: .whitespaces)
                // [sinks.filter] belongs to the latest [[sinks]].
                if let dot = name.firstIndex(of: "."), let parent = arrayPath[String(name[..<dot])] {
                    section = parent + name[dot...]
                } else {
                    section = name
                }
                lines[section] = number + 1
            } else if let eq = line.firstIndex(of: "="), !line.hasPrefix("#") {
                let key = line[..<eq].trimmingCharacters(in: .whitespaces).trimmingCharacters(in: CharacterSet(charactersIn: "\""))
                let path = section.isEmpty ? key : "\(section).\(key)"
                if lines[path] == nil { lines[path] = number + 1 }
            }
        }
    }

    /// The line of `path`, or of the nearest enclosing table.
    func line(_ path: String) -> Int? {
        var candidate = path
        while true {
            if let line = lines[candidate] { return line }
            guard let dot = candidate.lastIndex(of: ".") else { return nil }
            candidate = String(candidate[..<dot])
        }
    }
}

/// Reads one TOML table, remembering which keys were used so leftovers are reported as unknown.
final class TableReader {
    let path: String
    let values: [String: TOMLNode]
    private var used: Set<String> = []
    let context: ReaderContext

    init(path: String, values: [String: TOMLNode], context: ReaderContext) {
        self.path = path
        self.values = values
        self.context = context
    }

    func keyPath(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    func problem(_ key: String, _ message: String) {
        context.problem(keyPath(key), message)
    }

    func raw(_ key: String) -> TOMLNode? {
        used.insert(key)
        return values[key]
    }

    private func typed<T>(_ key: String, _ expected: String, _ extract: (TOMLNode) -> T?) -> T? {
        guard let node = raw(key) else { return nil }
        guard let value = extract(node) else {
            problem(key, "expected \(expected), found \(node.typeName)")
            return nil
        }
        return value
    }

    func string(_ key: String) -> String? {
        typed(key, "a string") { if case .string(let s) = $0 { s } else { nil } }
    }

    func int(_ key: String, _ fallback: Int, in range: ClosedRange<Int>) -> Int {
        guard let value = typed(key, "an integer", { if case .int(let i) = $0 { i } else { nil } }) else { return fallback }
        guard range.contains(value) else {
            problem(key, "must be between \(range.lowerBound) and \(range.upperBound), got \(value)")
            return fallback
        }
        return value
    }

    /// An integer with no default: `nil` when absent (or invalid, which is reported).
    func optionalInt(_ key: String, in range: ClosedRange<Int>) -> Int? {
        guard let value = typed(key, "an integer", { if case .int(let i) = $0 { i } else { nil } }) else { return nil }
        guard range.contains(value) else {
            problem(key, "must be between \(range.lowerBound) and \(range.upperBound), got \(value)")
            return nil
        }
        return value
    }

    func double(_ key: String, _ fallback: Double, in range: ClosedRange<Double>) -> Double {
        let value = typed(key, "a number") { node -> Double? in
            switch node {
            case .double(let d): d
            case .int(let i): Double(i)
            default: nil
            }
        }
        guard let value else { return fallback }
        guard range.contains(value) else {
            problem(key, "must be between \(range.lowerBound) and \(range.upperBound), got \(value)")
            return fallback
        }
        return value
    }

    func bool(_ key: String, _ fallback: Bool) -> Bool {
        typed(key, "true or false") { if case .bool(let b) = $0 { b } else { nil } } ?? fallback
    }

    func duration(_ key: String, _ fallback: Duration, minimum: Duration = .zero) -> Duration {
        guard let text = string(key) else { return fallback }
        guard let value = DurationParser.parse(text) else {
            problem(key, "'\(text)' is not a duration; use forms like 500ms, 30s, 5m, 6h or 1h30m")
            return fallback
        }
        guard value >= minimum else {
            problem(key, "must be at least \(minimum), got \(text)")
            return fallback
        }
        return value
    }

    func strings(_ key: String) -> [String] {
        typed(key, "an array of strings") { node -> [String]? in
            guard case .array(let items) = node else { return nil }
            let strings = items.compactMap { if case .string(let s) = $0 { s } else { nil } }
            return strings.count == items.count ? strings : nil
        } ?? []
    }

    func table(_ key: String) -> TableReader? {
        guard let values = typed(key, "a table", { if case .table(let t) = $0 { t } else { nil } }) else { return nil }
        return TableReader(path: keyPath(key), values: values, context: context)
    }

    /// Reports every key that no reader asked for.
    func rejectUnknownKeys() {
        for key in values.keys.sorted() where !used.contains(key) {
            problem(key, "unknown key")
        }
    }
}

/// Shared state of one load: the file name, the line locator and the problems found so far.
final class ReaderContext {
    let file: String
    let locator: LineLocator
    private(set) var problems: [ConfigurationError.Problem] = []

    init(file: String, locator: LineLocator) {
        self.file = file
        self.locator = locator
    }

    func location(_ path: String) -> ConfigurationError.Location {
        .init(file: file, line: locator.line(path), key: path)
    }

    func problem(_ path: String, _ message: String) {
        problems.append(.init(location: location(path), message: message))
    }
}
