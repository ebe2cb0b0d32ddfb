import Foundation
import Logging
import WatchCore
import WatchPostgres

/// The two backends of ``StateStore``; store tests take one as their argument and run against both.
public enum StoreBackend: String, Sendable, CaseIterable {
    /// SQLite in memory.
    case sqlite
    /// A fresh database in the shared throwaway PostgreSQL cluster (``TestPostgres``).
    case postgres

    /// A fresh, migrated store.
    public func makeStore() throws -> StateStore {
        switch self {
        case .sqlite:
            return try StateStore.inMemory()
        case .postgres:
            let store = try TestPostgres.shared.store(url: try TestPostgres.shared.makeDatabase())
            try store.database.migrate()
            return store
        }
    }
}
