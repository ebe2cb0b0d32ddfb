import Foundation
import WatchCore

/// Builds the configured sinks, checking each one's type-specific keys.
public enum SinkFactory {
    /// - Throws: ``ConfigurationError`` naming the file, line and key of every problem.
    public static func make(
        _ configurations: [SinkConfiguration], configurationFile: String, environment: [String: String], store: StateStore? = nil
    ) throws(ConfigurationError) -> [any Sink] {
        var problems: [ConfigurationError.Problem] = []
        var sinks: [any Sink] = []
        for configuration in configurations {
            let reader = SettingsReader(settings: configuration.settings, file: configurationFile)
            switch configuration.type {
            case "file":
                guard let path = reader.string("path", required: true) else { break }
                sinks.append(FileSink(name: configuration.name, configuration: .init(path: resolve(path, relativeTo: configurationFile)), store: store))
            default:
                reader.problem("type", "'\(configuration.type)' sinks are not supported by this build")
            }
            reader.rejectUnknown()
            problems += reader.problems
        }
        guard problems.isEmpty else { throw ConfigurationError(problems: problems) }
        return sinks
    }

    static func resolve(_ path: String, relativeTo file: String) -> String {
        path.hasPrefix("/") ? path : URL(fileURLWithPath: file).deletingLastPathComponent().appendingPathComponent(path).standardized.path
    }
}

/// Reads a sink's settings and remembers what it used, so leftovers are reported as unknown.
final class SettingsReader {
    let settings: SinkSettings
    let file: String
    private(set) var used: Set<String> = []
    private(set) var problems: [ConfigurationError.Problem] = []

    init(settings: SinkSettings, file: String) {
        self.settings = settings
        self.file = file
    }

    func problem(_ key: String, _ message: String) {
        problems.append(.init(location: settings.location(key), message: message))
    }

    func string(_ key: String, required: Bool = false) -> String? {
        used.insert(key)
        switch settings.values[key] {
        case .string(let value)? where !value.isEmpty: return value
        case nil, .string?:
            if required { problem(key, "missing") }
            return nil
        case let other?:
            problem(key, "expected a string, found \(Self.describe(other))")
            return nil
        }
    }

    func rejectUnknown() {
        for key in settings.values.keys.sorted() where !used.contains(key) {
            problem(key, "unknown key")
        }
    }

    static func describe(_ value: SinkSettings.SettingValue) -> String {
        switch value {
        case .string: "a string"
        case .int: "an integer"
        case .double: "a number"
        case .bool: "a boolean"
        case .strings: "an array"
        case .table: "a table"
        }
    }
}
