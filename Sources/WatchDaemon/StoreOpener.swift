import Foundation
import Logging
import WatchCore
import WatchPostgres

/// Opens the store a configuration names: SQLite at `[state] path`, or PostgreSQL at `[state] url`.
public enum StoreOpener {
    /// Who opens it.
    public enum Use: Sendable {
        /// `run`: PostgreSQL writes are fenced by the lease.
        case daemon
        /// An operator's command that writes (`deliveries redeliver`): no lease, so not fenced.
        case command
        /// A command that only reads (`status`, `history`): SQLite read-only, PostgreSQL not migrated.
        case reading
    }

    /// Opens and (unless `reading`) migrates the store.
    /// - Throws: ``StoreError``, naming the file or the URL (never a password).
    public static func open(
        _ state: DaemonConfiguration.State,
        use: Use,
        lease: Duration = .seconds(10),
        environment: [String: String] = ProcessInfo.processInfo.environment,
        logger: Logger = Logger(label: "compliance-watch")
    ) throws(StoreError) -> StateStore {
        guard let url = state.url else {
            return use == .reading
                ? try StateStore.openReadOnly(path: state.path) : try StateStore.open(path: state.path)
        }
        let location: PostgresLocation
        do {
            location = try PostgresLocation(parsing: url)
        } catch {
            throw StoreError(path: url, message: error.message)
        }
        do {
            let database = try PostgresDatabase(
                location: location,
                password: state.password ?? location.passwordFromFile(environment: environment),
                fenced: use == .daemon,
                idleInTransactionTimeout: max(lease, .seconds(1)),
                logger: logger
            )
            if use != .reading { try database.migrate() }
            return StateStore(database: database)
        } catch let error as StoreError {
            throw StoreError(path: location.description, message: error.message)
        } catch {
            throw StoreError(path: location.description, message: "\(error)")
        }
    }
}

/// Who leads a PostgreSQL store, for `status`.
public struct LeaseStatus: Sendable {
    /// The holder: `HOST (pid N)`, or `nil` before anyone led.
    public var leader: String?
    /// The holder's process id on its host.
    public var pid: Int32?
    /// Whether its lease has run out (no instance is leading now).
    public var expired: Bool
    /// When it took the lease.
    public var since: Date?
    /// The current fencing token.
    public var token: Int64
    /// Instances seen within the last lease period: `HOST (pid N)` and role.
    public var members: [(instance: String, role: String, seenAt: Date)]

    /// The members standing by: not the leader, even in the moment before it says it leads.
    public var standbys: [String] {
        members.filter { $0.role == "standby" && $0.instance != leader }.map(\.instance)
    }

    /// Reads the lease of `store`; `nil` for a SQLite store.
    public static func read(_ store: StateStore, lease: Duration) throws -> LeaseStatus? {
        guard let database = store.database as? PostgresDatabase else { return nil }
        let lease = PostgresLease(database: database, duration: lease)
        guard let holder = try lease.holder() else { return nil }
        return LeaseStatus(
            leader: holder.host.map { "\($0) (pid \(holder.pid ?? 0))" },
            pid: holder.pid.map(Int32.init),
            expired: holder.expired,
            since: holder.since,
            token: holder.token,
            members: try lease.members(within: lease.duration).map {
                ("\($0.host) (pid \($0.pid))", $0.role, $0.seenAt)
            }
        )
    }
}
