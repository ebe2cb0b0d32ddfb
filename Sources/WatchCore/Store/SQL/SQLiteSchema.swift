/// The store's schema in SQLite, as migrations in order. `PostgresSchema` lists the same
/// identifiers in PostgreSQL's types; a test compares the two.
///
/// Frozen: each migration is literal SQL that names no live constant, because a database migrated
/// once never runs it again. A test holds a digest of every one, so an edit fails the suite; a
/// change to the schema is a new migration at the end.
enum SQLiteSchema {
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
            """
        ),
        // The last line each file sink wrote, so a truncated audit file is detectable and the
        // hash chain continues into a new file after rotation.
        (
            "v2-add-audit-head",
            """
            CREATE TABLE auditHead (
                sink TEXT PRIMARY KEY,
                seq INTEGER NOT NULL,
                hash TEXT NOT NULL,
                path TEXT NOT NULL,
                updatedAt REAL NOT NULL
            );
            """
        ),
        // The dispatcher asks for the oldest pending rows of one sink; without this index SQLite
        // sorted every pending row on each query (measured in make bench).
        ("v3-index-pending-deliveries", "CREATE INDEX delivery_pending ON delivery(sink, state, eventSeq)"),
        // A deleted application stays as a tombstone that keeps its version, so an id that comes
        // back continues its event numbering instead of reusing event ids. The salt is mixed into
        // every event id: two databases (a wiped one, a second installation) never give one id to
        // two different transitions.
        (
            "v4-tombstones-and-event-salt",
            """
            ALTER TABLE application ADD COLUMN deletedAt REAL;
            ALTER TABLE application ADD COLUMN missedScans INTEGER NOT NULL DEFAULT 0;
            ALTER TABLE application ADD COLUMN problem TEXT;
            ALTER TABLE application ADD COLUMN problemSince REAL;
            ALTER TABLE pollState ADD COLUMN lastSuccessAt REAL;
            CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
            INSERT INTO meta (key, value) VALUES ('eventIdSalt', lower(hex(randomblob(16))));
            """
        ),
        // `skipped`: an operator gave up on one delivery (`deliveries skip`), so the
        // application's later events may flow. SQLite cannot alter a CHECK: rebuild.
        (
            "v5-delivery-skipped-state",
            """
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
            """
        ),
        // Document ids were joined with commas; a JSON array cannot be misread if an id ever holds
        // one. Split as Swift's components(separatedBy: ",") did ("a,,b" is three ids, "" none).
        (
            "v6-document-ids-as-json",
            """
            UPDATE application SET documentIds = (
                WITH RECURSIVE part(n, id, rest) AS (
                    SELECT 0, NULL, application.documentIds || ','
                    UNION ALL
                    SELECT n + 1, substr(rest, 1, instr(rest, ',') - 1), substr(rest, instr(rest, ',') + 1)
                    FROM part WHERE rest <> ''
                )
                SELECT json_group_array(id) FROM (SELECT id FROM part WHERE n > 0 ORDER BY n)
            )
            WHERE documentIds <> '';
            UPDATE application SET documentIds = '[]' WHERE documentIds = '';
            """
        ),
        // A hot scan reads only what it compares, for only the applications it expects to see
        // (changeable, or suspected gone), from this partial index; bodies stay on disk. Queries
        // repeat the index's WHERE exactly (`StateStore.watchCondition`, checked by a test), so
        // SQLite uses it.
        (
            "v7-content-hash-and-watch-index",
            """
            ALTER TABLE application ADD COLUMN contentHash BLOB;
            CREATE INDEX application_watch ON application(account, id) WHERE deletedAt IS NULL AND (lower(status) <> 'accepted' OR missedScans > 0 OR problem IS NOT NULL);
            """
        ),
        // The status line counts pending and dead rows after every cycle: a range of this index,
        // however many delivered rows the table holds.
        (
            "v8-index-delivery-state",
            """
            CREATE INDEX delivery_state ON delivery(state, sink);
            CREATE INDEX application_problem ON application(problemSince) WHERE problem IS NOT NULL;
            """
        ),
        // The active/standby lease: one row that names the leader and its fencing token, and one
        // row per instance seen. SQLite, written by one process (``StateLock``), leaves them empty.
        (
            "v9-ha-lease",
            """
            CREATE TABLE ha_lease (
                name TEXT PRIMARY KEY,
                holder TEXT,
                host TEXT,
                pid INTEGER,
                token BIGINT NOT NULL DEFAULT 0,
                since REAL,
                expiresAt REAL NOT NULL DEFAULT 0
            );
            CREATE TABLE ha_member (
                instance TEXT PRIMARY KEY,
                host TEXT NOT NULL,
                pid INTEGER NOT NULL,
                role TEXT NOT NULL,
                seenAt REAL NOT NULL
            );
            INSERT INTO ha_lease (name) VALUES ('leader');
            """
        ),
        // The sealing epoch of each recorded head.
        ("v10-audit-head-epoch", "ALTER TABLE auditHead ADD COLUMN epoch INTEGER"),
    ]
}
