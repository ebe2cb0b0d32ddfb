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
                let key = line[..<eq].trimmingCharacters(in: .whitespaces).trimmingCharacters(
                    in: CharacterSet(charactersIn: "\"")
                )
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

/// Reads one TOML table for a configuration type, and is the only TOML reader in the project.
///
/// Every section and every sink type reads itself through one: each value is checked for its
/// type and range, and a problem is reported as `file:line: key: message`, so one run of
/// `check-config` names every problem in the file. Keys no reader asked for are reported as
/// unknown by ``rejectUnknownKeys()``. Paths are resolved relative to the file's directory, and
/// secrets are read through ``SecretReader`` in the documented order.
public final class ConfigReader {
    /// The dotted path of this table (`plivo`, `sinks[2]`); empty for the top level.
    public let path: String
    let values: [String: TOMLNode]
    private var used: Set<String> = []
    let context: ReaderContext

    init(path: String, values: [String: TOMLNode], context: ReaderContext) {
        self.path = path
        self.values = values
        self.context = context
    }

    /// The file being read.
    public var file: String { context.file }
    /// The environment secrets are read from (`CREDENTIALS_DIRECTORY`, variables).
    public var environment: [String: String] { context.environment }

    /// `path.key`.
    public func keyPath(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    /// Reports a problem with `key`, located at its line.
    public func problem(_ key: String, _ message: String) {
        context.problem(keyPath(key), message)
    }

    /// Whether this reader's table, or any other read in the same load, has reported a problem.
    public var hasProblems: Bool { !context.problems.isEmpty }

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

    /// A string; `nil` when absent. An empty string counts as absent.
    public func string(_ key: String) -> String? {
        typed(key, "a string") { if case .string(let s) = $0 { s } else { nil } }.flatMap { $0.isEmpty ? nil : $0 }
    }

    /// A string that must be present; reports `missing` otherwise.
    public func requiredString(_ key: String) -> String? {
        let value = string(key)
        if value == nil { problem(key, "missing") }
        return value
    }

    /// One of `T`'s raw values; reports the allowed ones otherwise.
    public func choice<T: RawRepresentable & CaseIterable>(_ key: String, _ fallback: T) -> T
    where T.RawValue == String {
        guard let text = string(key) else { return fallback }
        guard let value = T(rawValue: text) else {
            problem(key, "'\(text)' is not one of \(T.allCases.map(\.rawValue).joined(separator: ", "))")
            return fallback
        }
        return value
    }

    /// An integer in `range`, or `fallback` when absent (or invalid, which is reported).
    public func int(_ key: String, _ fallback: Int, in range: ClosedRange<Int>) -> Int {
        optionalInt(key, in: range) ?? fallback
    }

    /// An integer with no default: `nil` when absent (or invalid, which is reported).
    public func optionalInt(_ key: String, in range: ClosedRange<Int>) -> Int? {
        guard let value = typed(key, "an integer", { if case .int(let i) = $0 { i } else { nil } }) else { return nil }
        guard range.contains(value) else {
            problem(key, "must be between \(range.lowerBound) and \(range.upperBound), got \(value)")
            return nil
        }
        return value
    }

    /// A number (integers accepted) in `range`, or `fallback`.
    public func double(_ key: String, _ fallback: Double, in range: ClosedRange<Double>) -> Double {
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

    /// `true` or `false`, or `fallback`.
    public func bool(_ key: String, _ fallback: Bool) -> Bool {
        typed(key, "true or false") { if case .bool(let b) = $0 { b } else { nil } } ?? fallback
    }

    /// A duration such as `500ms`, `30s` or `1h30m`, at least `minimum`, or `fallback`.
    public func duration(_ key: String, _ fallback: Duration, minimum: Duration = .zero) -> Duration {
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

    /// A list of strings; a single string is accepted as a list of one.
    public func strings(_ key: String) -> [String] {
        typed(key, "an array of strings") { node -> [String]? in
            switch node {
            case .string(let s): return [s]
            case .array(let items):
                let strings = items.compactMap { if case .string(let s) = $0 { s } else { nil } }
                return strings.count == items.count ? strings : nil
            default: return nil
            }
        } ?? []
    }

    /// A table whose values are all strings (`headers`), sorted by key.
    public func stringTable(_ key: String) -> [(String, String)] {
        typed(key, "a table of strings") { node -> [(String, String)]? in
            guard case .table(let table) = node else { return nil }
            let strings = table.compactMapValues { if case .string(let s) = $0 { s } else { nil } }
            return strings.count == table.count ? strings.sorted { $0.key < $1.key }.map { ($0.key, $0.value) } : nil
        } ?? []
    }

    /// A path, resolved relative to the configuration file's directory.
    public func path(_ key: String, required: Bool = false) -> String? {
        (required ? requiredString(key) : string(key)).map(resolve)
    }

    /// `path` made absolute against the configuration file's directory.
    public func resolve(_ path: String) -> String {
        DaemonConfiguration.resolve(path, relativeTo: context.file)
    }

    /// A nested table, or `nil` when absent (a value of another type is reported).
    public func table(_ key: String) -> ConfigReader? {
        guard let values = typed(key, "a table", { if case .table(let t) = $0 { t } else { nil } }) else { return nil }
        return ConfigReader(path: keyPath(key), values: values, context: context)
    }

    /// The secret in the file named by `key` (trimmed of a trailing newline); problems are reported.
    public func secret(fileAt file: String, key: String) -> String? {
        switch SecretReader(environment: environment).read(file: file, credential: nil, environmentVariable: nil) {
        case .success(let secret?): return secret.value
        case .success(nil): problem(key, "\(file) is empty")
        case .failure(let error): problem(key, error.message)
        }
        return nil
    }

    /// The systemd credential `name` from `$CREDENTIALS_DIRECTORY`; problems are reported under `key`.
    public func credential(_ name: String, key: String) -> String? {
        guard environment["CREDENTIALS_DIRECTORY"] != nil else {
            problem(key, "credential '\(name)' needs $CREDENTIALS_DIRECTORY (systemd LoadCredential=)")
            return nil
        }
        switch SecretReader(environment: environment).read(file: nil, credential: name, environmentVariable: nil) {
        case .success(let secret?): return secret.value
        default:
            problem(key, "credential '\(name)' is missing or empty in $CREDENTIALS_DIRECTORY")
            return nil
        }
    }

    /// Reports every key that no reader asked for.
    public func rejectUnknownKeys() {
        for key in values.keys.sorted() where !used.contains(key) {
            problem(key, "unknown key")
        }
    }
}

/// Shared state of one load: the file name, the line locator, the environment and the problems
/// found so far.
final class ReaderContext {
    let file: String
    let locator: LineLocator
    let environment: [String: String]
    private(set) var problems: [ConfigurationError.Problem] = []

    init(file: String, locator: LineLocator, environment: [String: String]) {
        self.file = file
        self.locator = locator
        self.environment = environment
    }

    func location(_ path: String) -> ConfigurationError.Location {
        .init(file: file, line: locator.line(path), key: path)
    }

    func problem(_ path: String, _ message: String) {
        problems.append(.init(location: location(path), message: message))
    }
}
