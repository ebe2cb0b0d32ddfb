import Foundation
import WatchCore

/// The store's schema in PostgreSQL: the same tables, columns, indexes and migration names as
/// SQLite's (`SQLiteSchema`), in PostgreSQL's types. A test compares the two.
///
/// Frozen, as SQLite's: literal SQL naming no live constant, each migration's digest held by a
/// test; a change to the schema is a new migration at the end.
enum PostgresSchema {
    /// Migrations in order. v6 rewrote SQLite's comma-joined document ids as JSON; PostgreSQL
    /// stores have held JSON from the start, so it has nothing to do here.
    static let migrations: [(identifier: String, sql: String)] = [
        (
            "v1-create-state",
            """
            CREATE TABLE application (
                account TEXT NOT NULL,
                id TEXT NOT NULL,
                status TEXT NOT NULL,
                rejectionReason TEXT,
                documentIds TEXT NOT NULL,
                body TEXT NOT NULL,
                version INTEGER NOT NULL,
                firstSeenAt DOUBLE PRECISION NOT NULL,
                lastSeenAt DOUBLE PRECISION NOT NULL,
                PRIMARY KEY (account, id)
            );
            CREATE TABLE event (
                seq BIGSERIAL PRIMARY KEY,
                id TEXT NOT NULL UNIQUE,
                account TEXT NOT NULL,
                applicationId TEXT NOT NULL,
                type TEXT NOT NULL,
                body BYTEA NOT NULL,
                createdAt DOUBLE PRECISION NOT NULL
            );
            CREATE TABLE delivery (
                eventSeq BIGINT NOT NULL REFERENCES event(seq) ON DELETE CASCADE,
                sink TEXT NOT NULL,
                account TEXT NOT NULL,
                applicationId TEXT NOT NULL,
                state TEXT NOT NULL CONSTRAINT delivery_state_check CHECK (state IN ('pending', 'delivered', 'dead')),
                attempts INTEGER NOT NULL DEFAULT 0,
                nextAttemptAt DOUBLE PRECISION NOT NULL,
                lastError TEXT,
                createdAt DOUBLE PRECISION NOT NULL,
                deliveredAt DOUBLE PRECISION,
                PRIMARY KEY (eventSeq, sink)
            );
            CREATE INDEX delivery_due ON delivery(sink, state, nextAttemptAt);
            CREATE INDEX delivery_order ON delivery(sink, account, applicationId, state, eventSeq);
            CREATE TABLE pollState (
                account TEXT PRIMARY KEY,
                baselineDone INTEGER NOT NULL DEFAULT 0,
                lastFullSyncAt DOUBLE PRECISION,
                lastPollAt DOUBLE PRECISION,
                lastPollOK INTEGER,
                lastError TEXT,
                consecutiveFailures INTEGER NOT NULL DEFAULT 0
            );
            """
        ),
        (
            "v2-add-audit-head",
            """
            CREATE TABLE auditHead (
                sink TEXT PRIMARY KEY,
                seq BIGINT NOT NULL,
                hash TEXT NOT NULL,
                path TEXT NOT NULL,
                updatedAt DOUBLE PRECISION NOT NULL
            );
            """
        ),
        ("v3-index-pending-deliveries", "CREATE INDEX delivery_pending ON delivery(sink, state, eventSeq);"),
        (
            "v4-tombstones-and-event-salt",
            """
            ALTER TABLE application ADD COLUMN deletedAt DOUBLE PRECISION;
            ALTER TABLE application ADD COLUMN missedScans INTEGER NOT NULL DEFAULT 0;
            ALTER TABLE application ADD COLUMN problem TEXT;
            ALTER TABLE application ADD COLUMN problemSince DOUBLE PRECISION;
            ALTER TABLE pollState ADD COLUMN lastSuccessAt DOUBLE PRECISION;
            CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
            INSERT INTO meta (key, value) VALUES ('eventIdSalt', md5(random()::text || clock_timestamp()::text));
            """
        ),
        (
            "v5-delivery-skipped-state",
            """
            ALTER TABLE delivery DROP CONSTRAINT delivery_state_check;
            ALTER TABLE delivery ADD CONSTRAINT delivery_state_check CHECK (state IN ('pending', 'delivered', 'dead', 'skipped'));
            """
        ),
        ("v6-document-ids-as-json", ""),
        (
            "v7-content-hash-and-watch-index",
            """
            ALTER TABLE application ADD COLUMN contentHash BYTEA;
            CREATE INDEX application_watch ON application(account, id) WHERE deletedAt IS NULL AND (lower(status) <> 'accepted' OR missedScans > 0 OR problem IS NOT NULL);
            """
        ),
        (
            "v8-index-delivery-state",
            """
            CREATE INDEX delivery_state ON delivery(state, sink);
            CREATE INDEX application_problem ON application(problemSince) WHERE problem IS NOT NULL;
            """
        ),
        (
            "v9-ha-lease",
            """
            CREATE TABLE ha_lease (
                name TEXT PRIMARY KEY,
                holder TEXT,
                host TEXT,
                pid INTEGER,
                token BIGINT NOT NULL DEFAULT 0,
                since DOUBLE PRECISION,
                expiresAt DOUBLE PRECISION NOT NULL DEFAULT 0
            );
            CREATE TABLE ha_member (
                instance TEXT PRIMARY KEY,
                host TEXT NOT NULL,
                pid INTEGER NOT NULL,
                role TEXT NOT NULL,
                seenAt DOUBLE PRECISION NOT NULL
            );
            INSERT INTO ha_lease (name) VALUES ('leader');
            """
        ),
        ("v10-audit-head-epoch", "ALTER TABLE auditHead ADD COLUMN epoch INTEGER"),
    ]

    /// Applies what is missing, inside the caller's transaction, under an advisory lock, so two
    /// instances starting together migrate once.
    static func migrate(_ connection: PostgresDatabase.Connection) throws {
        try connection.execute("SELECT pg_advisory_xact_lock(7201300)", [])
        try connection.execute("CREATE TABLE IF NOT EXISTS schema_migrations (identifier TEXT PRIMARY KEY)", [])
        let applied = Set(try connection.column("SELECT identifier FROM schema_migrations", as: String.self))
        if !applied.subtracting(migrations.map(\.identifier)).isEmpty {
            throw StoreError(path: "", message: "the database was written by a newer compliance-watch; refusing to run")
        }
        for (identifier, sql) in migrations where !applied.contains(identifier) {
            for statement in sql.components(separatedBy: ";\n")
            where !statement.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
                try connection.execute(statement, [])
            }
            try connection.execute("INSERT INTO schema_migrations (identifier) VALUES (?)", [.text(identifier)])
        }
    }
}
