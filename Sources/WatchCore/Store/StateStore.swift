import Foundation
import GRDB
import PlivoCompliance

/// The durable state: application snapshots, events, deliveries and poll bookkeeping, in one
/// SQLite file in WAL mode, so `compliance-watch status` can read while the daemon writes.
///
/// Each method is one transaction and states the invariant it keeps.
public struct StateStore: Sendable {
    let writer: any DatabaseWriter

    /// Opens (creating if needed) the database at `path` and applies migrations.
    /// - Throws: ``StoreError`` when the file cannot be opened, or was written by a newer version.
    public static func open(path: String) throws(StoreError) -> StateStore {
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw StoreError(path: path, message: "cannot create directory \(directory): \(DaemonConfiguration.reason(error))")
        }
        do {
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
            let pool = try DatabasePool(path: path, configuration: configuration)
            let store = StateStore(writer: pool)
            try store.migrate()
            return store
        } catch let error as StoreError {
            throw error
        } catch {
            throw StoreError(path: path, message: "\(error)")
        }
    }

    /// Opens an existing database read-only, for `status` and `deliveries list` while the daemon runs.
    public static func openReadOnly(path: String) throws(StoreError) -> StateStore {
        guard FileManager.default.fileExists(atPath: path) else {
            throw StoreError(path: path, message: "no state database yet (has the daemon run?)")
        }
        do {
            var configuration = Configuration()
            configuration.readonly = true
            configuration.busyMode = .timeout(10)
            return StateStore(writer: try DatabasePool(path: path, configuration: configuration))
        } catch {
            throw StoreError(path: path, message: "\(error)")
        }
    }

    /// An in-memory store for tests.
    public static func inMemory() throws -> StateStore {
        let store = StateStore(writer: try DatabaseQueue())
        try store.migrate()
        return store
    }

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
                try update.execute(arguments: [Self.jsonArray(ids), row["account"], row["id"]])
            }
        }
        migrator.registerMigration("v7-content-hash-and-watch-index") { db in
            // A hot scan reads only what it compares, for only the applications it expects to
            // see (changeable, or suspected gone), from this partial index; bodies stay on disk.
            // Queries repeat the index's WHERE exactly, so SQLite uses it.
            try db.execute(sql: """
                ALTER TABLE application ADD COLUMN contentHash BLOB;
                CREATE INDEX application_watch ON application(account, id) WHERE \(Self.watchCondition);
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
        return migrator
    }

    /// The rows a hot scan expects to see: live, and changeable or suspected gone.
    static let watchCondition = "deletedAt IS NULL AND (lower(status) <> 'accepted' OR missedScans > 0 OR problem IS NOT NULL)"

    /// The random salt this database mixes into event ids.
    public func eventIdSalt() throws -> String {
        try writer.read { db in try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'eventIdSalt'") ?? "" }
    }

    func migrate() throws {
        let migrator = Self.migrator
        if try writer.read({ try migrator.hasBeenSuperseded($0) }) {
            throw StoreError(path: writer.path, message: "the database was written by a newer compliance-watch; refusing to run")
        }
        try migrator.migrate(writer)
    }

    /// The names of the migrations applied, in order.
    public func appliedMigrations() throws -> [String] {
        try writer.read { try Self.migrator.appliedIdentifiers($0).sorted() }
    }
}

/// A state database that cannot be used.
public struct StoreError: Error, Sendable, CustomStringConvertible {
    /// The database file.
    public var path: String
    /// What is wrong with it.
    public var message: String

    /// Creates the error.
    public init(path: String, message: String) {
        self.path = path
        self.message = message
    }

    public var description: String { "state database \(path): \(message)" }
}
