import CurlHTTP
import Foundation
import PlivoCompliance
import WatchCore
import WatchSinks

/// A scratch directory with a config pointing at a sandbox.
public struct DaemonFixture {
    /// The scratch directory.
    public let directory: URL
    /// `cw.toml` in it.
    public var configPath: String { directory.appendingPathComponent("cw.toml").path }
    /// The file sink `audit`'s file.
    public var auditPath: String { directory.appendingPathComponent("audit/events.jsonl").path }
    /// The state database.
    public var statePath: String { directory.appendingPathComponent("state/state.db").path }

    /// Writes the token and a configuration with a file sink, plus `extra` TOML.
    public init(baseURL: String, authId: String, token: String, extra: String = "") throws {
        try self.init(baseURL: baseURL, accounts: [(nil, authId, token)], extra: extra)
    }

    /// Several accounts: a `[[accounts]]` table for each named one, whose token is in the file
    /// `token-NAME`; a single unnamed one is a `[plivo]` table with its token in `token`.
    /// `state` replaces the `[state]` table's body (`path = "state/state.db"`), e.g. with a PostgreSQL `url`.
    public init(
        baseURL: String,
        accounts: [(name: String?, authId: String, token: String)],
        state: String = #"path = "state/state.db""#,
        extra: String = ""
    ) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("cw-daemon-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        // [plivo] holds the single account's credentials, or the settings named accounts share.
        var credentials = "", tables = ""
        for account in accounts {
            let file = account.name.map { "token-\($0)" } ?? "token"
            try writeSecretFile(account.token, to: directory.appendingPathComponent(file).path)
            let lines = "auth_id = \"\(account.authId)\"\nauth_token_file = \"\(file)\"\n"
            if let name = account.name {
                tables += "[[accounts]]\nname = \"\(name)\"\n" + lines
            } else {
                credentials += lines
            }
        }
        try """
        \(tables)
        [plivo]
        \(credentials)
        base_url = "\(baseURL)"
        max_requests_per_second = 500
        backoff_max = "200ms"
        [poll]
        interval = "100ms"
        settled_interval = "1s"
        [state]
        \(state)
        [delivery]
        backoff_base = "10ms"
        backoff_max = "100ms"
        [log]
        level = "warning"
        [[sinks]]
        name = "audit"
        type = "file"
        path = "audit/events.jsonl"
        \(extra)
        """.write(toFile: configPath, atomically: true, encoding: .utf8)
    }

    /// Starts `compliance-watch` with `arguments` and this configuration.
    public func launch(_ arguments: [String]) throws -> Process {
        let process = Process()
        process.executableURL = TestBinaries.complianceWatch
        process.arguments = arguments + ["--config", configPath]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        ChildProcesses.killAtExit(process)
        return process
    }

    /// Turns on `[poll] announce_existing`, so the first sync announces what it finds.
    public func announceExisting() throws {
        try (try String(contentsOfFile: configPath, encoding: .utf8))
            .replacingOccurrences(of: "[poll]", with: "[poll]\nannounce_existing = true")
            .write(toFile: configPath, atomically: true, encoding: .utf8)
    }

    /// Starts `run` with `NOTIFY_SOCKET` pointing at `socket`.
    public func launchNotifying(_ socket: FakeNotifySocket) throws -> Process {
        let process = Process()
        process.executableURL = TestBinaries.complianceWatch
        process.arguments = ["run", "--config", configPath]
        process.environment = ProcessInfo.processInfo.environment.merging(["NOTIFY_SOCKET": socket.environmentValue]) {
            $1
        }
        process.standardError = FileHandle.nullDevice
        try process.run()
        ChildProcesses.killAtExit(process)
        return process
    }

    /// Waits (at most about 5 s) until the daemon has committed its silent baseline for `account`.
    /// - Returns: whether it did.
    @discardableResult
    public func waitForBaseline(account: String) async throws -> Bool {
        for _ in 0..<250 {
            if let store = try? StateStore.openReadOnly(path: statePath),
                (try? store.pollState(account: account).baselineDone) == true
            {
                return true
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        return false
    }

    /// Distinct events in the audit file, in file order, plus how many lines there were.
    /// - Throws: ``FixtureError`` for a line that is not an audit line, or an event written
    ///   twice that differs from its first copy (a redelivery must be byte-for-byte the same).
    public func auditEvents() throws -> (events: [Event], lines: Int) {
        let text = (try? String(contentsOfFile: auditPath, encoding: .utf8)) ?? ""
        let lines = text.split(separator: "\n")
        var seen: [String: Event] = [:]
        var ordered: [Event] = []
        for line in lines {
            guard let (_, event) = AuditChain.decode(line: Data(line.utf8)) else {
                throw FixtureError("not an audit line: \(line.prefix(200))")
            }
            if let earlier = seen[event.id] {
                guard earlier == event else { throw FixtureError("event \(event.id) was written twice, differently") }
                continue
            }
            seen[event.id] = event
            ordered.append(event)
        }
        return (ordered, lines.count)
    }
}

/// A fixture found something a test must not accept.
public struct FixtureError: Error, CustomStringConvertible {
    /// What was found.
    public var description: String
    /// Creates the error.
    public init(_ description: String) { self.description = description }
}

/// The transport tests use to talk to a sandbox: short timeouts.
public enum CurlTransportFactory {
    /// A transport with a 5 s timeout.
    public static func make() -> CurlTransport { CurlTransport(configuration: .init(timeout: .seconds(5))) }
}
