import CurlHTTP
import Foundation
import WatchCore

/// The active/standby lease in the shared database: one row (`ha_lease`, name `leader`) with
/// the holder, an expiry and a fencing token that grows by one at every takeover.
///
/// Times are the database server's (`clock_timestamp()`), so hosts whose clocks disagree still
/// agree on who leads. Lease statements bypass the fence: a standby must be able to take over.
public struct PostgresLease: Sendable {
    /// Who this instance is: unique per process.
    public struct Instance: Sendable, Equatable {
        /// `HOST/PID/RANDOM`: the lease row's holder.
        public var id: String
        /// The host name, shown to operators.
        public var host: String
        /// The process id, shown to operators.
        public var pid: Int32

        /// An instance with this identity.
        public init(id: String, host: String, pid: Int32) {
            self.id = id
            self.host = host
            self.pid = pid
        }

        /// This process.
        public static func current() -> Instance {
            var buffer = [CChar](repeating: 0, count: 256)
            gethostname(&buffer, buffer.count)
            let host = String(cString: buffer)
            let pid = getpid()
            return Instance(id: "\(host)/\(pid)/\(UUID().uuidString.prefix(8))", host: host, pid: pid)
        }
    }

    /// The lease row as read.
    public struct Holder: Sendable, Equatable {
        /// The holder's instance id; `nil` before anyone led.
        public var instance: String?
        /// Its host.
        public var host: String?
        /// Its process id.
        public var pid: Int?
        /// The current fencing token.
        public var token: Int64
        /// When it took the lease.
        public var since: Date?
        /// When the lease runs out unless renewed.
        public var expiresAt: Date
        /// Whether it has run out, by the database's clock.
        public var expired: Bool
    }

    /// An instance seen recently.
    public struct Member: Sendable, Equatable {
        /// Its host.
        public var host: String
        /// Its process id.
        public var pid: Int
        /// `leader` or `standby`, as it last said.
        public var role: String
        /// When it last said so.
        public var seenAt: Date
    }

    /// The database.
    public let database: PostgresDatabase
    /// This instance.
    public let instance: Instance
    /// How long a lease lasts without renewal.
    public let duration: Duration

    /// A lease over `database`.
    public init(database: PostgresDatabase, instance: Instance = .current(), duration: Duration) {
        self.database = database
        self.instance = instance
        self.duration = duration
    }

    private var seconds: Double { duration.inSeconds }

    /// Takes the lease if it is free or expired. - Returns: the new fencing token, or `nil`
    /// when another instance holds it.
    public func acquire() throws -> Int64? {
        try database.transaction { db in
            // A lock held by a paused leader's transaction must not hang the standby.
            try db.execute("SET LOCAL lock_timeout = '2s'", [])
            return try db.value(
                """
                UPDATE ha_lease SET holder = ?, host = ?, pid = ?, token = token + 1,
                    since = extract(epoch FROM clock_timestamp()), expiresAt = extract(epoch FROM clock_timestamp()) + ?
                WHERE name = 'leader' AND (holder IS NULL OR expiresAt <= extract(epoch FROM clock_timestamp()))
                RETURNING token
                """,
                instance.id,
                instance.host,
                Int(instance.pid),
                seconds
            )
        }
    }

    /// Extends the lease this instance holds under `token`. - Returns: `false` when it no
    /// longer does (another instance took over): the caller must stop acting at once.
    public func renew(token: Int64) throws -> Bool {
        try database.transaction { db in
            try db.execute("SET LOCAL lock_timeout = '2s'", [])
            return try db.execute(
                """
                UPDATE ha_lease SET expiresAt = extract(epoch FROM clock_timestamp()) + ?
                WHERE name = 'leader' AND holder = ? AND token = ?
                """,
                seconds,
                instance.id,
                token
            ) == 1
        }
    }

    /// Gives the lease up (clean shutdown), so a standby takes over at its next try rather
    /// than after the lease runs out.
    public func release(token: Int64) throws {
        try database.transaction { db in
            try db.execute(
                "UPDATE ha_lease SET expiresAt = 0 WHERE name = 'leader' AND holder = ? AND token = ?",
                instance.id,
                token
            )
        }
    }

    /// Says this instance is alive, and in which role.
    public func announce(role: String) throws {
        try database.transaction { db in
            try db.execute(
                """
                INSERT INTO ha_member (instance, host, pid, role, seenAt) VALUES (?, ?, ?, ?, extract(epoch FROM clock_timestamp()))
                ON CONFLICT (instance) DO UPDATE SET role = excluded.role, seenAt = excluded.seenAt
                """,
                instance.id,
                instance.host,
                Int(instance.pid),
                role
            )
            // Rows of instances gone for a day are of no use to anyone.
            try db.execute("DELETE FROM ha_member WHERE seenAt < extract(epoch FROM clock_timestamp()) - 86400")
        }
    }

    /// Removes this instance from the members (clean shutdown), so `status` stops listing it.
    public func leave() throws {
        try database.transaction { db in
            try db.execute("DELETE FROM ha_member WHERE instance = ?", instance.id)
        }
    }

    /// The lease row.
    public func holder() throws -> Holder? {
        try database.read { db in
            try db.row(
                """
                SELECT holder, host, pid, token, since, expiresAt,
                       (expiresAt <= extract(epoch FROM clock_timestamp()))::int AS expired
                FROM ha_lease WHERE name = 'leader'
                """
            ).map { row in
                Holder(
                    instance: row["holder"],
                    host: row["host"],
                    pid: row["pid"],
                    token: row["token"],
                    since: row["since"],
                    expiresAt: row["expiresAt"],
                    expired: row["expired"]
                )
            }
        }
    }

    /// Instances seen within the last `within`, leader first.
    public func members(within: Duration) throws -> [Member] {
        try database.read { db in
            try db.rows(
                """
                SELECT host, pid, role, seenAt FROM ha_member
                WHERE seenAt >= extract(epoch FROM clock_timestamp()) - ? ORDER BY role, host, pid
                """,
                within.inSeconds
            ).map { Member(host: $0["host"], pid: $0["pid"], role: $0["role"], seenAt: $0["seenAt"]) }
        }
    }
}
