import Testing
@testable import WatchCore
@testable import WatchPostgres

/// Shipped migrations never change: a database migrated once never runs one again, so an edit
/// would give new databases a schema old ones never get. A schema change is a new migration.
@Suite("Frozen migrations")
struct MigrationTests {
    /// SHA-256 of each shipped migration's SQL: (identifier, SQLite, PostgreSQL). Append a row for
    /// a new migration; never edit one.
    static let shipped: [(String, String, String)] = [
        (
            "v1-create-state", "ad215d9f91536f558fa588457b6fd6571b8f81296070156091fd2441ea597560",
            "6dec2f0b74b0c47a2eeb9c5c519ad80caa9a5100d097d054f3587d91627f0733"
        ),
        (
            "v2-add-audit-head", "3cb3ad387e70940fa9608700f939a218c5b930aea7c51f576709292f35cda278",
            "0ae7e5068dcc8ea8738bc12e3202f57d101650196f97ec9a07039a1167a2199e"
        ),
        (
            "v3-index-pending-deliveries", "d99b276c60e7a2b6e5c9a9f62c54b3f171da878ab83f436cd25d6c14606539b6",
            "906544223af9ba214cd635ebad1d87e8d3b4021b85dca27412ba800f64671e31"
        ),
        (
            "v4-tombstones-and-event-salt", "fce9946a4cdc00d5ee1c4722b69bfb9b00e4c176dee4c431fc5d8427fab912af",
            "942a75fe8f1c241aed69664220a3c5ef921df3d7782808b0999f17f5cabc5905"
        ),
        (
            "v5-delivery-skipped-state", "f1cde063b95b4fba6393fb1792d3fb81ccb40430e8e687cd3fc07d457f73c3d9",
            "ef5ef89b7cc398e31eb1f904e4767198bd5bc586bd9827f266ad968e92f5a21f"
        ),
        (
            "v6-document-ids-as-json", "395e1a33867cf44d6c1dc44a3ba8223fad5c2fefc1ea03f3c8daeb74271c7cbf",
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        ),
        (
            "v7-content-hash-and-watch-index", "fe62615fb0b3d0ce261a69b11a26264cfb3e3f96b339674181fa7a90bd60a8fd",
            "4123e1376ff948550717ddc9539fe051e118d525728eb858b3766f7ee9fe929c"
        ),
        (
            "v8-index-delivery-state", "677cac76f75a4aca0901035542287661169442e6140e7b6092abf18090dcc2b0",
            "677cac76f75a4aca0901035542287661169442e6140e7b6092abf18090dcc2b0"
        ),
        (
            "v9-ha-lease", "2928a412bfea4d1df2e61c6675d749580a56a2177780889e70813efc299fbf90",
            "58453ab40a682940dafd5f88086d6fcb00a28c13be8f7bc8111e888e87cd425f"
        ),
        (
            "v10-audit-head-epoch", "53ff16923bb844f7da79ab57b30860865149b07a908f5220c13ccf27c9dafce2",
            "53ff16923bb844f7da79ab57b30860865149b07a908f5220c13ccf27c9dafce2"
        ),
    ]

    @Test("every shipped migration's SQL is byte for byte what shipped, in both backends")
    func frozen() {
        let sqlite = SQLiteSchema.migrations, postgres = PostgresSchema.migrations
        #expect(
            sqlite.map(\.identifier) == postgres.map(\.identifier),
            "the backends list the same migrations in the same order"
        )
        #expect(sqlite.count >= Self.shipped.count, "a shipped migration was removed")
        for (index, (identifier, sqliteDigest, postgresDigest)) in Self.shipped.enumerated() where index < sqlite.count
        {
            #expect(sqlite[index].identifier == identifier, "migration \(index + 1) was renamed or moved")
            #expect(
                Hashing.sha256Hex(sqlite[index].sql) == sqliteDigest,
                "SQLite's \(identifier) was edited: add a new migration instead"
            )
            #expect(
                Hashing.sha256Hex(postgres[index].sql) == postgresDigest,
                "PostgreSQL's \(identifier) was edited: add a new migration instead"
            )
        }
        // A new migration: the rows to append to `shipped`, once it ships.
        let unrecorded = zip(sqlite, postgres).dropFirst(Self.shipped.count).map { lite, pg in
            #"("\#(lite.identifier)", "\#(Hashing.sha256Hex(lite.sql))", "\#(Hashing.sha256Hex(pg.sql))"),"#
        }
        #expect(unrecorded.isEmpty, "append to MigrationTests.shipped:\n\(unrecorded.joined(separator: "\n"))")
    }

    @Test("the hot scan's condition is, word for word, the WHERE of v7's partial index in both backends")
    func watchIndexCondition() {
        for migrations in [SQLiteSchema.migrations, PostgresSchema.migrations] {
            let v7 = migrations.first { $0.identifier == "v7-content-hash-and-watch-index" }?.sql ?? ""
            #expect(v7.contains("ON application(account, id) WHERE \(StateStore.watchCondition);"))
        }
    }
}
