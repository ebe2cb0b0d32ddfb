/// Problems found in a configuration file. All of them are reported together.
public struct ConfigurationError: Error, Sendable, CustomStringConvertible {
    /// Where a problem is: file, line when known, and the dotted key.
    public struct Location: Sendable, Equatable {
        /// The configuration file.
        public var file: String
        /// The line, when known.
        public var line: Int?
        /// The dotted key, e.g. `sinks[2].url`.
        public var key: String

        /// Creates a location.
        public init(file: String, line: Int?, key: String) {
            self.file = file
            self.line = line
            self.key = key
        }
    }

    /// One problem.
    public struct Problem: Sendable, Equatable, CustomStringConvertible {
        /// Where.
        public var location: Location
        /// What is wrong; never a secret's value.
        public var message: String

        /// Creates a problem.
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

    /// Every problem found, in file order.
    public var problems: [Problem]

    /// Creates the error.
    public init(problems: [Problem]) { self.problems = problems }

    public var description: String {
        problems.map(\.description).joined(separator: "\n")
    }
}
