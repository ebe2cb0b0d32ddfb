import Foundation
import GRDB
import PlivoCompliance

/// The durable state: application snapshots, events, deliveries and poll bookkeeping, in SQLite
/// (one file in WAL mode, the default) or PostgreSQL (several instances, one leading). The
/// logic and the SQL are written once here, over ``SQLDatabase``.
///
/// Each method is one transaction and states the invariant it keeps.
public struct StateStore: Sendable {
    /// The backend.
    public let database: any SQLDatabase

    /// A store over `database`, whose schema must be migrated (``SQLDatabase/migrate()``).
    public init(database: any SQLDatabase) {
        self.database = database
    }

    /// Opens (creating if needed) the SQLite database at `path` and applies migrations.
    /// - Throws: ``StoreError`` when the file cannot be opened, or was written by a newer version.
    public static func open(path: String) throws(StoreError) -> StateStore {
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw StoreError(
                path: path,
                message: "cannot create directory \(directory): \(DaemonConfiguration.reason(error))"
            )
        }
        do {
            let store = StateStore(database: try SQLiteDatabase.open(path: path))
            try store.database.migrate()
            return store
        } catch let error as StoreError {
            throw error
        } catch {
            throw StoreError(path: path, message: "\(error)")
        }
    }

    /// Opens an existing SQLite database read-only, for `status` and `deliveries list` while the daemon runs.
    public static func openReadOnly(path: String) throws(StoreError) -> StateStore {
        guard FileManager.default.fileExists(atPath: path) else {
            throw StoreError(path: path, message: "no state database yet (has the daemon run?)")
        }
        do {
            return StateStore(database: try SQLiteDatabase.openReadOnly(path: path))
        } catch {
            throw StoreError(path: path, message: "\(error)")
        }
    }

    /// An in-memory SQLite store for tests.
    public static func inMemory() throws -> StateStore {
        let store = StateStore(database: try SQLiteDatabase.inMemory())
        try store.database.migrate()
        return store
    }

    /// The rows a hot scan expects to see: live, and changeable or suspected gone. Migration v7's
    /// partial index repeats it word for word (a test checks), so the hot scan's query uses it.
    public static let watchCondition =
        "deletedAt IS NULL AND (lower(status) <> 'accepted' OR missedScans > 0 OR problem IS NOT NULL)"

    /// The random salt this database mixes into event ids.
    public func eventIdSalt() throws -> String {
        try database.read { try $0.value("SELECT value FROM meta WHERE key = 'eventIdSalt'") ?? "" }
    }

    /// The names of the migrations applied, in the order they apply.
    public func appliedMigrations() throws -> [String] {
        try database.appliedMigrations()
    }

    /// The SQLite backend's GRDB handle, for tests that look at SQLite itself (query plans).
    var writer: any DatabaseWriter {
        guard let sqlite = database as? SQLiteDatabase else { preconditionFailure("not a SQLite store") }
        return sqlite.writer
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
