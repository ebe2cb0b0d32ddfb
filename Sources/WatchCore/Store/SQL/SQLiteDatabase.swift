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
            throw StoreError(path: writer.path, message: "the database was written by a newer compliance-watch; refusing to run")
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
            StatementArguments(values.map { value -> DatabaseValue in
                switch value {
                case .null: .null
                case .integer(let v): v.databaseValue
                case .real(let v): v.databaseValue
                case .text(let v): v.databaseValue
                case .blob(let v): v.databaseValue
                }
            })
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
    /// SQLite's migrations, in GRDB's migrator, so databases written before the store had
    /// several backends keep their history (`grdb_migrations`). `PostgresSchema` lists the same
    /// identifiers in PostgreSQL's types.
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1-create-state") { db in
            try db.execute(sql: """
                CREATE TABLE application (
                    account TEXT NOT NULL,
                    id TEXT NOT NULL,
                    status TEXT NOT NULL,
                    rejectionReason TEXT,
                    documentIds TEXT NOT NULL,
                    body TEXT NOT NULL,
                    version INTEGER NOT NULL,
                    firstSeenAt REAL NOT NULL,
                    lastSeenAt REAL NOT NULL,
                    PRIMARY KEY (account, id)
                );
                CREATE TABLE event (
                    seq INTEGER PRIMARY KEY AUTOINCREMENT,
                    id TEXT NOT NULL UNIQUE,
                    account TEXT NOT NULL,
                    applicationId TEXT NOT NULL,
                    type TEXT NOT NULL,
                    body BLOB NOT NULL,
                    createdAt REAL NOT NULL
                );
                CREATE TABLE delivery (
                    eventSeq INTEGER NOT NULL REFERENCES event(seq) ON DELETE CASCADE,
                    sink TEXT NOT NULL,
                    account TEXT NOT NULL,
                    applicationId TEXT NOT NULL,
                    state TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'dead')),
                    attempts INTEGER NOT NULL DEFAULT 0,
                    nextAttemptAt REAL NOT NULL,
                    lastError TEXT,
                    createdAt REAL NOT NULL,
                    deliveredAt REAL,
                    PRIMARY KEY (eventSeq, sink)
                );
                CREATE INDEX delivery_due ON delivery(sink, state, nextAttemptAt);
                CREATE INDEX delivery_order ON delivery(sink, account, applicationId, state, eventSeq);
                CREATE TABLE pollState (
                    account TEXT PRIMARY KEY,
                    baselineDone INTEGER NOT NULL DEFAULT 0,
                    lastFullSyncAt REAL,
                    lastPollAt REAL,
                    lastPollOK INTEGER,
                    lastError TEXT,
                    consecutiveFailures INTEGER NOT NULL DEFAULT 0
                );
                """)
        }
        migrator.registerMigration("v2-add-audit-head") { db in
            // The last line each file sink wrote, so a truncated audit file is detectable and the
            // hash chain continues into a new file after rotation.
            try db.execute(sql: """
                CREATE TABLE auditHead (
                    sink TEXT PRIMARY KEY,
                    seq INTEGER NOT NULL,
                    hash TEXT NOT NULL,
                    path TEXT NOT NULL,
                    updatedAt REAL NOT NULL
                );
                """)
        }
        migrator.registerMigration("v3-index-pending-deliveries") { db in
            // The dispatcher asks for the oldest pending rows of one sink; without this index
            // SQLite sorted every pending row on each query (measured in make bench).
            try db.execute(sql: "CREATE INDEX delivery_pending ON delivery(sink, state, eventSeq)")
        }
        migrator.registerMigration("v4-tombstones-and-event-salt") { db in
            // A deleted application stays as a tombstone that keeps its version, so an id that
            // comes back continues its event numbering instead of reusing event ids.
            try db.execute(sql: """
                ALTER TABLE application ADD COLUMN deletedAt REAL;
                ALTER TABLE application ADD COLUMN missedScans INTEGER NOT NULL DEFAULT 0;
                ALTER TABLE application ADD COLUMN problem TEXT;
                ALTER TABLE application ADD COLUMN problemSince REAL;
                ALTER TABLE pollState ADD COLUMN lastSuccessAt REAL;
                CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
                """)
            // Mixed into every event id: two databases (a wiped one, a second installation)
            // never give one id to two different transitions.
            try db.execute(sql: "INSERT INTO meta (key, value) VALUES ('eventIdSalt', ?)", arguments: [Hashing.randomHex(bytes: 16)])
        }
        migrator.registerMigration("v5-delivery-skipped-state") { db in
            // `skipped`: an operator gave up on one delivery (`deliveries skip`), so the
            // application's later events may flow. SQLite cannot alter a CHECK: rebuild.
            try db.execute(sql: """
                CREATE TABLE delivery_new (
                    eventSeq INTEGER NOT NULL REFERENCES event(seq) ON DELETE CASCADE,
                    sink TEXT NOT NULL,
                    account TEXT NOT NULL,
                    applicationId TEXT NOT NULL,
                    state TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'dead', 'skipped')),
                    attempts INTEGER NOT NULL DEFAULT 0,
                    nextAttemptAt REAL NOT NULL,
                    lastError TEXT,
                    createdAt REAL NOT NULL,
                    deliveredAt REAL,
                    PRIMARY KEY (eventSeq, sink)
                );
                INSERT INTO delivery_new SELECT eventSeq, sink, account, applicationId, state, attempts, nextAttemptAt,
                    lastError, createdAt, deliveredAt FROM delivery;
                DROP TABLE delivery;
                ALTER TABLE delivery_new RENAME TO delivery;
                CREATE INDEX delivery_due ON delivery(sink, state, nextAttemptAt);
                CREATE INDEX delivery_order ON delivery(sink, account, applicationId, state, eventSeq);
                CREATE INDEX delivery_pending ON delivery(sink, state, eventSeq);
                """)
        }
        migrator.registerMigration("v6-document-ids-as-json") { db in
            // Document ids were joined with commas; a JSON array cannot be misread if an id ever
            // holds one.
            let rows = try Row.fetchAll(db, sql: "SELECT account, id, documentIds FROM application")
            let update = try db.makeStatement(sql: "UPDATE application SET documentIds = ? WHERE account = ? AND id = ?")
            for row in rows {
                let joined: String = row["documentIds"]
                let ids = joined.isEmpty ? [] : joined.components(separatedBy: ",")
                try update.execute(arguments: [StateStore.jsonArray(ids), row["account"], row["id"]])
            }
        }
        migrator.registerMigration("v7-content-hash-and-watch-index") { db in
            // A hot scan reads only what it compares, for only the applications it expects to
            // see (changeable, or suspected gone), from this partial index; bodies stay on disk.
            // Queries repeat the index's WHERE exactly, so SQLite uses it.
            try db.execute(sql: """
                ALTER TABLE application ADD COLUMN contentHash BLOB;
                CREATE INDEX application_watch ON application(account, id) WHERE \(StateStore.watchCondition);
                """)
        }
        migrator.registerMigration("v8-index-delivery-state") { db in
            // The status line counts pending and dead rows after every cycle: a range of this
            // index, however many delivered rows the table holds.
            try db.execute(sql: """
                CREATE INDEX delivery_state ON delivery(state, sink);
                CREATE INDEX application_problem ON application(problemSince) WHERE problem IS NOT NULL;
                """)
        }
        migrator.registerMigration("v9-ha-lease") { db in
            try db.execute(sql: StateStore.leaseSchema(real: "REAL"))
        }
        migrator.registerMigration("v10-audit-head-epoch") { db in
            try db.execute(sql: StateStore.auditHeadEpochSchema)
        }
        return migrator
    }
}
