import Foundation
import Synchronization
import WatchCore
import WatchPostgres

/// A real, throwaway PostgreSQL cluster (`scripts/pg-cluster.sh`): initdb in a temporary
/// directory as an unprivileged user, on a free loopback port, with a password for TCP logins.
///
/// ``shared`` is started once per test process, on first use, and stopped at exit; each test
/// takes its own database from it (``makeDatabase()``). A test that stops or restarts the server
/// starts its own with ``start()``.
public final class TestPostgres: Sendable {
    /// The cluster directory.
    public let directory: URL
    /// Its port on 127.0.0.1.
    public let port: Int
    /// The superuser.
    public let user = "cw"
    /// The superuser's password.
    public let password = "cw-test-password"
    /// A file holding ``password``, for `[state] password_file`.
    public var passwordFile: String { directory.appendingPathComponent("password").path }

    private static let sharedCluster = Mutex<Result<TestPostgres, any Error>?>(nil)
    private static let started = Mutex<[TestPostgres]>([])

    /// The cluster every test shares.
    public static var shared: TestPostgres {
        get throws {
            try sharedCluster.withLock { cluster in
                if cluster == nil { cluster = Result { try TestPostgres.start() } }
                return try cluster!.get()
            }
        }
    }

    /// Starts a new cluster, stopped at the test process's exit if the test does not.
    public static func start() throws -> TestPostgres {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "cw-pg-\(UUID().uuidString.prefix(8))"
        )
        let (code, out, err) = try Self.script(["start", directory.path])
        guard code == 0, let port = Int(out.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw FixtureError("scripts/pg-cluster.sh start failed (\(code)): \(err)\(out)")
        }
        let cluster = TestPostgres(directory: directory, port: port)
        started.withLock { list in
            if list.isEmpty { atexit { TestPostgres.stopAll() } }
            list.append(cluster)
        }
        return cluster
    }

    private init(directory: URL, port: Int) {
        self.directory = directory
        self.port = port
    }

    /// A new, empty database; its URL for `[state] url`.
    public func makeDatabase() throws -> String {
        let name = "t_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(16).lowercased()
        try psql("CREATE DATABASE \(name)")
        return url(database: name)
    }

    /// A store on the database at `url` (from ``makeDatabase()``), as a command opens it: not
    /// fenced, not migrated.
    public func store(url: String) throws -> StateStore {
        StateStore(
            database: try PostgresDatabase(
                location: try PostgresLocation(parsing: url),
                password: password,
                fenced: false,
                logger: .quiet
            )
        )
    }

    /// `postgresql://cw@127.0.0.1:PORT/DATABASE?sslmode=disable`.
    public func url(database: String) -> String {
        "postgresql://\(user)@127.0.0.1:\(port)/\(database)?sslmode=disable"
    }

    /// Runs one SQL command through `psql` (a real client process).
    @discardableResult
    public func psql(_ sql: String, database: String = "postgres") throws -> String {
        let (code, output, errors) = try Self.run(
            [
                "/usr/bin/psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", "\(port)",
                "-U", user, "-d", database, "-c", sql,
            ],
            environment: ["PGPASSWORD=\(password)", "PATH=/usr/bin:/bin"]
        )
        guard code == 0 else { throw FixtureError("psql \(sql.prefix(80)): \(errors)") }
        return output
    }

    /// Stops the server (fast shutdown: sessions are disconnected).
    public func stop() throws {
        _ = try Self.script(["stop", directory.path])
    }

    /// Stops and starts the server on the same port.
    public func restart() throws {
        let (code, out, err) = try Self.script(["restart", directory.path])
        guard code == 0 else { throw FixtureError("restart failed: \(err)\(out)") }
    }

    static func stopAll() {
        for cluster in started.withLock({ $0 }) {
            _ = try? script(["stop", cluster.directory.path])
            try? FileManager.default.removeItem(at: cluster.directory)
        }
    }

    private static func script(_ arguments: [String]) throws -> (Int32, String, String) {
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../scripts/pg-cluster.sh").standardized
        return try run(["/bin/bash", script.path] + arguments, environment: ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"])
    }

    /// posix_spawn and waitpid, output through files. Not Foundation's Process: its
    /// waitUntilExit missed the exit of pg_ctl, whose server outlives it, and hung.
    private static func run(_ argv: [String], environment: [String]) throws -> (Int32, String, String) {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("cw-run-\(UUID().uuidString)")
        let outPath = base.path + ".out", errPath = base.path + ".err"
        defer {
            try? FileManager.default.removeItem(atPath: outPath)
            try? FileManager.default.removeItem(atPath: errPath)
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, errPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        let cArguments = argv.map { strdup($0) } + [nil]
        let cEnvironment = environment.map { strdup($0) } + [nil]
        defer { (cArguments + cEnvironment).forEach { free($0) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, argv[0], &actions, nil, cArguments, cEnvironment)
        guard spawned == 0 else { throw FixtureError("cannot run \(argv[0]): \(String(cString: strerror(spawned)))") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1, errno == EINTR {}
        let code = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        let read = { (path: String) in (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }
        return (code, read(outPath), read(errPath))
    }
}
