import CurlHTTP
import Foundation
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import PostgresNIO
import Synchronization
import WatchCore

/// The PostgreSQL backend of ``StateStore``: several instances on one database, one leading
/// (``LeaseService``). Through postgres-nio.
///
/// The store's API is synchronous, like GRDB's. Queries run on NIO's event loop and the caller
/// waits on the future, so finishing a query never needs a thread of Swift's cooperative pool
/// that the caller may be holding. Every wait is bounded: a query that has not answered within
/// ``queryTimeout`` closes its connection, which fails it.
///
/// Writes of a leader are fenced: while ``fence`` holds a token, every write transaction first
/// locks the lease row in share mode and checks that the token is still the current one and
/// unexpired, so a leader that was paused past its lease cannot commit. The lock also makes a
/// takeover wait for write transactions already past the check.
public final class PostgresDatabase: SQLDatabase, Sendable {
    /// Where, without secrets.
    public let location: String
    public var dialect: SQLDialect { .postgres }
    /// This instance's fencing token, set while it leads.
    public let fence: Fence
    /// How long one statement may take before its connection is closed.
    public let queryTimeout: TimeAmount

    private let configuration: PostgresConnection.Configuration
    private let logger: Logger
    private let idle = Mutex<[PostgresConnection]>([])
    private let slots: DispatchSemaphore
    private let nextId = Atomic<Int>(1)

    /// Who may write: nobody but the holder of the current token, or anyone (commands run by an
    /// operator, which hold no lease, and single-instance use).
    public final class Fence: Sendable {
        /// The lease this instance holds.
        public struct Token: Sendable, Equatable {
            /// The lease row's holder column: unique per process.
            public var instance: String
            /// The fencing token.
            public var token: Int64

            /// A token held by `instance`.
            public init(instance: String, token: Int64) {
                self.instance = instance
                self.token = token
            }
        }

        enum Mode: Sendable, Equatable {
            case open
            case standby
            case leading(Token)
        }

        private let mode: Mutex<Mode>

        init(open: Bool) { mode = Mutex(open ? .open : .standby) }

        var current: Mode { mode.withLock { $0 } }

        /// Whether writes need the lease (the daemon's store), rather than being open to all (commands).
        public var requiresLease: Bool { current != .open }

        /// Writes from now on are checked against `token`.
        public func lead(_ token: Token) { mode.withLock { $0 = .leading(token) } }
        /// Writes from now on are refused.
        public func standBy() { mode.withLock { $0 = .standby } }
    }

    /// A write refused because this instance does not hold the lease (any more).
    public struct Fenced: Error, CustomStringConvertible {
        /// The token it held, if any.
        public var token: Int64?
        public var description: String {
            token.map { "fenced: lease token \($0) is no longer current; this instance is not the leader" }
                ?? "fenced: this instance is a standby and does not write"
        }
    }

    /// Connects lazily; nothing is opened until the first query.
    /// - Parameters:
    ///   - fenced: `true` for the daemon (writes need the lease), `false` for commands.
    public init(
        location: PostgresLocation,
        password: String?,
        fenced: Bool,
        connections: Int = 4,
        queryTimeout: Duration = .seconds(30),
        idleInTransactionTimeout: Duration = .seconds(10),
        logger: Logger
    ) throws {
        self.location = location.description
        fence = Fence(open: !fenced)
        self.queryTimeout = .nanoseconds(queryTimeout.inNanoseconds)
        self.logger = logger
        slots = DispatchSemaphore(value: connections)
        let tls: PostgresConnection.Configuration.TLS
        switch location.sslMode {
        case .disable:
            tls = .disable
        case .prefer, .require:
            var settings = TLSConfiguration.makeClientConfiguration()
            settings.certificateVerification = .none
            let context = try NIOSSLContext(configuration: settings)
            tls = location.sslMode == .prefer ? .prefer(context) : .require(context)
        case .verifyFull:
            tls = .require(try NIOSSLContext(configuration: .makeClientConfiguration()))
        }
        var configuration = PostgresConnection.Configuration(
            host: location.host,
            port: location.port,
            username: location.user,
            password: password,
            database: location.database,
            tls: tls
        )
        configuration.options.connectTimeout = .seconds(5)
        if location.sslMode == .verifyFull { configuration.options.tlsServerName = location.host }
        // A paused leader's open transaction holds the lease row in share mode: the server ends
        // it, so a takeover never waits longer than this.
        let idleSeconds = max(1, Int(idleInTransactionTimeout.components.seconds))
        configuration.options.additionalStartupParameters = [
            ("application_name", "compliance-watch"),
            ("idle_in_transaction_session_timeout", "\(idleSeconds)s"),
        ]
        self.configuration = configuration
    }

    deinit {
        for connection in idle.withLock({ $0 }) { closeSoon(connection) }
    }

    // MARK: SQLDatabase

    public func read<T>(_ body: (any SQLConnection) throws -> T) throws -> T {
        try withConnection { connection in try body(connection) }
    }

    public func write<T>(_ body: (any SQLConnection) throws -> T) throws -> T {
        try transaction { connection in
            try checkFence(connection)
            return try body(connection)
        }
    }

    /// One transaction on a pooled connection, not fenced (the lease's own statements).
    func transaction<T>(_ body: (Connection) throws -> T) throws -> T {
        try withConnection { connection in
            try connection.execute("BEGIN", [])
            do {
                let result = try body(connection)
                try connection.execute("COMMIT", [])
                return result
            } catch {
                _ = try? connection.execute("ROLLBACK", [])
                throw error
            }
        }
    }

    private func checkFence(_ connection: Connection) throws {
        switch fence.current {
        case .open:
            return
        case .standby:
            throw Fenced(token: nil)
        case .leading(let held):
            let current = try connection.rows(
                """
                SELECT token FROM ha_lease WHERE name = 'leader' AND holder = ? AND token = ?
                  AND expiresAt > extract(epoch FROM clock_timestamp()) FOR SHARE
                """,
                [.text(held.instance), .integer(held.token)]
            )
            guard !current.isEmpty else { throw Fenced(token: held.token) }
        }
    }

    public func migrate() throws {
        try transaction { connection in try PostgresSchema.migrate(connection) }
    }

    public func appliedMigrations() throws -> [String] {
        let applied = Set(try read { db in try db.column("SELECT identifier FROM schema_migrations", as: String.self) })
        return PostgresSchema.migrations.map(\.identifier).filter(applied.contains)
    }

    // MARK: Connections

    /// Runs `body` on a pooled connection. A connection that failed in a way that may have left
    /// it unusable is closed rather than pooled; the next call opens a new one.
    func withConnection<T>(_ body: (Connection) throws -> T) throws -> T {
        slots.wait()
        defer { slots.signal() }
        let pooled = idle.withLock { $0.popLast() }
        let connection =
            try pooled.flatMap { $0.isClosed ? nil : Connection(connection: $0, timeout: queryTimeout) }
            ?? connect()
        do {
            let result = try body(connection)
            idle.withLock { $0.append(connection.connection) }
            return result
        } catch let error as PostgresStoreError where error.serverReported && !connection.connection.isClosed {
            idle.withLock { $0.append(connection.connection) }  // the server said no; the session is fine
            throw error
        } catch let error as Fenced {
            idle.withLock { $0.append(connection.connection) }
            throw error
        } catch {
            closeSoon(connection.connection)
            throw error
        }
    }

    private func connect() throws -> Connection {
        let id = nextId.wrappingAdd(1, ordering: .relaxed).oldValue
        do {
            let connection = try PostgresConnection.connect(
                on: MultiThreadedEventLoopGroup.singleton.any(),
                configuration: configuration,
                id: id,
                logger: logger
            ).wait()
            return Connection(connection: connection, timeout: queryTimeout)
        } catch {
            throw PostgresStoreError(error, location: location, what: "cannot connect")
        }
    }

    /// One connection as a ``SQLConnection``.
    struct Connection: SQLConnection {
        let connection: PostgresConnection
        let timeout: TimeAmount

        func execute(_ sql: String, _ arguments: [SQLValue]) throws -> Int {
            let query = try Self.query(sql, arguments)
            let future = connection.query(query, logger: connection.logger) { _ in }
            return try wait(future, sql: sql).rows ?? 0
        }

        func each(_ sql: String, _ arguments: [SQLValue], _ body: (SQLRow) throws -> Void) throws {
            let query = try Self.query(sql, arguments)
            let result = try wait(connection.query(query, logger: connection.logger), sql: sql)
            var names: [String]?
            for row in result.rows {
                var values: [SQLValue] = []
                values.reserveCapacity(row.count)
                if names == nil { names = row.map { $0.columnName.lowercased() } }
                for cell in row { values.append(try Self.value(cell)) }
                try body(SQLRow(lowercasedNames: names!, values: values))
            }
        }

        private func wait<T>(_ future: EventLoopFuture<T>, sql: String) throws -> T {
            // A server that stops answering (paused, partitioned) must not hang the caller.
            let connection = self.connection
            let timer = future.eventLoop.scheduleTask(in: timeout) { closeSoon(connection) }
            defer { timer.cancel() }
            do {
                return try future.wait()
            } catch {
                throw PostgresStoreError(error, location: "", what: String(sql.prefix(60)))
            }
        }

        /// `?` marks become `$1`, `$2`…; quoted text is left alone.
        static func query(_ sql: String, _ arguments: [SQLValue]) throws -> PostgresQuery {
            var text = ""
            text.reserveCapacity(sql.utf8.count + arguments.count * 2)
            var number = 0
            var quoted = false
            for character in sql {
                if character == "'" { quoted.toggle() }
                if character == "?", !quoted {
                    number += 1
                    text += "$\(number)"
                } else {
                    text.append(character)
                }
            }
            precondition(number == arguments.count, "\(number) marks for \(arguments.count) arguments in: \(sql)")
            var bindings = PostgresBindings(capacity: arguments.count)
            for argument in arguments {
                switch argument {
                case .null: bindings.appendNull()
                case .integer(let value): bindings.append(value)
                case .real(let value): bindings.append(value)
                case .text(let value): bindings.append(value)
                case .blob(let value): bindings.append(ByteBuffer(bytes: value))
                }
            }
            return PostgresQuery(unsafeSQL: text, binds: bindings)
        }

        static func value(_ cell: PostgresCell) throws -> SQLValue {
            guard cell.bytes != nil else { return .null }
            switch cell.dataType {
            case .int2, .int4, .int8, .oid: return .integer(try cell.decode(Int64.self))
            case .float4, .float8: return .real(try cell.decode(Double.self))
            case .bool: return .integer(try cell.decode(Bool.self) ? 1 : 0)
            case .bytea:
                var buffer = try cell.decode(ByteBuffer.self)
                return .blob(buffer.readData(length: buffer.readableBytes) ?? Data())
            // NUMERIC as text: a caller reading it as a number fails loudly instead of getting 0.
            case .numeric: return .text(try cell.decode(String.self))
            default: return .text(try cell.decode(String.self))
            }
        }
    }
}

/// Starts closing `connection` without waiting (the future and async `close()` overlap); the
/// connection is kept alive until closed, as postgres-nio requires.
private func closeSoon(_ connection: PostgresConnection) {
    let closed: EventLoopFuture<Void> = connection.close()
    closed.whenComplete { _ in withExtendedLifetime(connection) {} }
}

/// A PostgreSQL failure, said without postgres-nio's deliberately opaque description: the
/// server's SQLSTATE and message, or what failed on the client side. Never a password.
public struct PostgresStoreError: Error, CustomStringConvertible {
    /// What was being done.
    public var what: String
    /// Why it failed.
    public var reason: String
    /// The server answered with an error: the connection itself is fine.
    public var serverReported: Bool

    init(_ error: any Error, location: String, what: String) {
        self.what = location.isEmpty ? what : "\(what) \(location)"
        if let psql = error as? PSQLError {
            if let info = psql.serverInfo {
                serverReported = true
                reason = "\(info[.sqlState] ?? "?"): \(info[.message] ?? "server error")"
            } else {
                serverReported = false
                let underlying = psql.underlying.map { " (\(String(describing: $0)))" } ?? ""
                reason = "\(psql.code)\(underlying)"
            }
        } else if let nested = error as? PostgresStoreError {
            serverReported = nested.serverReported
            reason = nested.reason
        } else {
            serverReported = false
            reason = String(describing: error)
        }
    }

    public var description: String { "PostgreSQL: \(what): \(reason)" }
}
