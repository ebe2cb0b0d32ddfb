import Foundation

/// Where a PostgreSQL store lives: `[state] url = "postgresql://USER@HOST:PORT/DATABASE?sslmode=MODE"`.
///
/// Parsed by hand like ``DaemonConfiguration/checkHTTPURL(_:)``: URLComponents would load ICU's
/// IDNA tables for one string. A password in the URL is refused, so the URL can be logged.
public struct PostgresLocation: Sendable, Equatable, CustomStringConvertible {
    /// libpq's `sslmode` values this daemon honours.
    public enum SSLMode: String, Sendable, CaseIterable {
        /// Plain TCP.
        case disable
        /// TLS when the server offers it, plain otherwise (libpq's default).
        case prefer
        /// TLS, without checking the certificate.
        case require
        /// TLS with the certificate checked against the system's CAs and the host name.
        case verifyFull = "verify-full"
    }

    /// The user to log in as.
    public var user: String
    /// Host name or address.
    public var host: String
    /// TCP port (5432 unless given).
    public var port: Int
    /// The database.
    public var database: String
    /// TLS.
    public var sslMode: SSLMode

    /// The URL as given minus nothing secret (it holds no password).
    public var description: String {
        "postgresql://\(user)@\(host.contains(":") ? "[\(host)]" : host):\(port)/\(database)?sslmode=\(sslMode.rawValue)"
    }

    /// Parses a URL; throws ``ParseError`` saying what is wrong.
    public init(parsing text: String) throws(ParseError) {
        guard let separator = text.firstRange(of: "://") else { throw ParseError("not a postgresql:// URL") }
        let scheme = text[..<separator.lowerBound].lowercased()
        guard scheme == "postgresql" || scheme == "postgres" else {
            throw ParseError("must start with postgresql://, not \(scheme)://")
        }
        var rest = text[separator.upperBound...]
        var query = Substring("")
        if let mark = rest.firstIndex(of: "?") {
            query = rest[rest.index(after: mark)...]
            rest = rest[..<mark]
        }
        guard let slash = rest.firstIndex(of: "/") else { throw ParseError("names no database (…/DATABASE)") }
        let authority = rest[..<slash]
        let database = Self.decode(rest[rest.index(after: slash)...])
        guard !database.isEmpty, !database.contains("/") else { throw ParseError("names no database (…/DATABASE)") }
        guard let at = authority.lastIndex(of: "@") else {
            throw ParseError("names no user (postgresql://USER@HOST/…)")
        }
        let userInfo = authority[..<at]
        if userInfo.contains(":") {
            throw ParseError(
                "a password does not belong in the URL: use password_file, password_credential or PGPASSFILE"
            )
        }
        let user = Self.decode(userInfo)
        guard !user.isEmpty else { throw ParseError("names no user (postgresql://USER@HOST/…)") }
        let hostPort = authority[authority.index(after: at)...]
        var host: Substring
        var portText: Substring?
        if hostPort.hasPrefix("["), let close = hostPort.firstIndex(of: "]") {
            host = hostPort[hostPort.index(after: hostPort.startIndex)..<close]
            let after = hostPort[hostPort.index(after: close)...]
            if after.hasPrefix(":") {
                portText = after.dropFirst()
            } else if !after.isEmpty {
                throw ParseError("bad host")
            }
        } else if let colon = hostPort.lastIndex(of: ":") {
            host = hostPort[..<colon]
            portText = hostPort[hostPort.index(after: colon)...]
        } else {
            host = hostPort
        }
        guard !host.isEmpty, !host.contains(where: { $0.isWhitespace || $0 == "/" }) else {
            throw ParseError("names no host")
        }
        var port = 5432
        if let portText {
            guard let number = Int(portText), (1...65535).contains(number) else {
                throw ParseError("port '\(portText)' is not 1…65535")
            }
            port = number
        }
        var sslMode = SSLMode.prefer
        for pair in query.split(separator: "&") where !pair.isEmpty {
            let parts = pair.split(separator: "=", maxSplits: 1)
            let key = String(parts[0]), value = parts.count > 1 ? Self.decode(parts[1]) : ""
            switch key {
            case "sslmode":
                guard let mode = SSLMode(rawValue: value) else {
                    throw ParseError(
                        "sslmode '\(value)' is not \(SSLMode.allCases.map(\.rawValue).joined(separator: ", "))"
                    )
                }
                sslMode = mode
            case "password":
                throw ParseError(
                    "a password does not belong in the URL: use password_file, password_credential or PGPASSFILE"
                )
            default:
                throw ParseError("unknown parameter '\(key)' (only sslmode is read)")
            }
        }
        self.user = user
        self.host = String(host)
        self.port = port
        self.database = database
        self.sslMode = sslMode
    }

    /// `nil` when `text` parses; otherwise why not.
    public static func check(_ text: String) -> String? {
        do {
            _ = try PostgresLocation(parsing: text)
            return nil
        } catch {
            return error.message
        }
    }

    /// The password libpq would use from a password file (`PGPASSFILE`, else `~/.pgpass`):
    /// the first `hostname:port:database:username:password` line that matches, `*` matching
    /// anything and `\` escaping `:` and `\`.
    public func passwordFromFile(environment: [String: String]) -> String? {
        let path = environment["PGPASSFILE"] ?? environment["HOME"].map { $0 + "/.pgpass" }
        guard let path, let text = try? TextFile.contents(of: path) else { return nil }
        for line in text.split(whereSeparator: \.isNewline) where !line.hasPrefix("#") {
            var fields: [String] = [], current = "", escaped = false
            for character in line {
                if escaped {
                    current.append(character)
                    escaped = false
                } else if character == "\\" {
                    escaped = true
                } else if character == ":", fields.count < 4 {
                    fields.append(current)
                    current = ""
                } else {
                    current.append(character)
                }
            }
            fields.append(current)
            guard fields.count == 5 else { continue }
            let wanted = [host, String(port), database, user]
            if zip(fields.prefix(4), wanted).allSatisfy({ $0 == "*" || $0 == $1 }) { return fields[4] }
        }
        return nil
    }

    /// A URL that cannot be used.
    public struct ParseError: Error, Sendable {
        /// Why.
        public var message: String
        init(_ message: String) { self.message = message }
    }

    private static func decode(_ text: Substring) -> String {
        String(text).removingPercentEncoding ?? String(text)
    }
}
