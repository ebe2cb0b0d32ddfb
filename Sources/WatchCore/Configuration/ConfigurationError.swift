/// Problems found in a configuration file. All of them are reported together.
public struct ConfigurationError: Error, Sendable, CustomStringConvertible {
    /// Where a problem is: file, line when known, and the dotted key.
    public struct Location: Sendable, Equatable {
        public var file: String
        public var line: Int?
        public var key: String

        public init(file: String, line: Int?, key: String) {
            self.file = file
            self.line = line
            self.key = key
        }
    }

    /// One problem.
    public struct Problem: Sendable, Equatable, CustomStringConvertible {
        public var location: Location
        public var message: String

        public init(location: Location, message: String) {
            self.location = location
            self.message = message
        }

        public var description: String {
            let line = location.line.map { ":\($0)" } ?? ""
            let key = location.key.isEmpty ? "" : " \(location.key):"
            return "\(location.file)\(line):\(key) \(message)"
        }
    }

    public var problems: [Problem]

    public init(problems: [Problem]) { self.problems = problems }

    public var description: String {
        problems.map(\.description).joined(separator: "\n")
    }
}
