import Foundation
import GRDB

/// The embedded backend: one SQLite file in WAL mode through GRDB, so `compliance-watch status`
/// reads while the daemon writes. One process writes (``StateLock``); there is nothing to fence.
public struct SQLiteDatabase: SQLDatabase {
    /// GRDB's pool (a file) or queue (in memory).
    public let writer: any DatabaseWriter

    public var location: String { writer.path }
    public var dialect: SQLDialect { .sqlite }

    /// Opens (creating if needed) the database at `path`.
    public static func open(path: String) throws -> SQLiteDatabase {
        var configuration = Configuration()
        configuration.busyMode = .timeout(10)
        // Two readers (the status line and /metrics; `status` is another process) with a
        // 1 MiB page cache each: the defaults, five readers at 2 MiB, grow the daemon's
        // resident memory by up to 12 MiB for reads that touch a few index pages.
        configuration.maximumReaderCount = 2
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA cache_size = -1024")
            // WAL + NORMAL: a process crash loses nothing; a power cut may lose the last
            // commits, which are then re-detected and re-recorded under the same event ids
            // (ids derive from the application's event count, rolled back with it).
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
        }
        return SQLiteDatabase(writer: try DatabasePool(path: path, configuration: configuration))
    }

    /// Opens an existing database read-only.
    public static func openReadOnly(path: String) throws -> SQLiteDatabase {
        var configuration = Configuration()
        configuration.readonly = true
        configuration.busyMode = .timeout(10)
        return SQLiteDatabase(writer: try DatabasePool(path: path, configuration: configuration))
    }

    /// A private in-memory database (tests).
    public static func inMemory() throws -> SQLiteDatabase {
        SQLiteDatabase(writer: try DatabaseQueue())
    }

    public func read<T>(_ body: (any SQLConnection) throws -> T) throws -> T {
        try writer.read { try body(Connection(db: $0)) }
    }

    public func write<T>(_ body: (any SQLConnection) throws -> T) throws -> T {
        try writer.write { try body(Connection(db: $0)) }
    }

    public func migrate() throws {
        let migrator = Self.migrator
        if try writer.read({ try migrator.hasBeenSuperseded($0) }) {
            throw StoreError(
                path: writer.path,
                message: "the database was written by a newer compliance-watch; refusing to run"
            )
        }
        try migrator.migrate(writer)
    }

    public func appliedMigrations() throws -> [String] {
        let migrator = Self.migrator
        let applied = try writer.read { try migrator.appliedIdentifiers($0) }
        return migrator.migrations.filter(applied.contains)
    }

    /// A GRDB database handle as a ``SQLConnection``: cached statements, rows read through a cursor.
    struct Connection: SQLConnection {
        let db: Database

        func execute(_ sql: String, _ arguments: [SQLValue]) throws -> Int {
            let statement = try db.cachedStatement(sql: sql)
            try statement.execute(arguments: Self.arguments(arguments))
            return db.changesCount
        }

        func each(_ sql: String, _ arguments: [SQLValue], _ body: (SQLRow) throws -> Void) throws {
            let statement = try db.cachedStatement(sql: sql)
            let names = statement.columnNames.map { $0.lowercased() }
            let cursor = try Row.fetchCursor(statement, arguments: Self.arguments(arguments))
            while let row = try cursor.next() {
                try body(SQLRow(lowercasedNames: names, values: row.databaseValues.map(Self.value)))
            }
        }

        static func arguments(_ values: [SQLValue]) -> StatementArguments {
            StatementArguments(
                values.map { value -> DatabaseValue in
                    switch value {
                    case .null: .null
                    case .integer(let v): v.databaseValue
                    case .real(let v): v.databaseValue
                    case .text(let v): v.databaseValue
                    case .blob(let v): v.databaseValue
                    }
                }
            )
        }

        static func value(_ value: DatabaseValue) -> SQLValue {
            switch value.storage {
            case .null: .null
            case .int64(let v): .integer(v)
            case .double(let v): .real(v)
            case .string(let v): .text(v)
            case .blob(let v): .blob(v)
            }
        }
    }
}

extension SQLiteDatabase {
    /// SQLite's migrations (``SQLiteSchema``) in GRDB's migrator, so databases written before the
    /// store had several backends keep their history (`grdb_migrations`).
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        for (identifier, sql) in SQLiteSchema.migrations {
            migrator.registerMigration(identifier) { db in try db.execute(sql: sql) }
        }
        return migrator
    }
}
