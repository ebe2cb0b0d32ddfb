import Foundation

/// The database under ``StateStore``: SQLite (``SQLiteDatabase``, the embedded default) or
/// PostgreSQL (`WatchPostgres`). The store's logic and its SQL are written once, against this;
/// a backend runs statements, frames transactions and owns its schema migrations.
///
/// Statements use `?` placeholders and the SQL both engines share: upserts with `ON CONFLICT`,
/// `RETURNING`, partial indexes. Unquoted identifiers are compared case-insensitively, as
/// PostgreSQL folds them to lower case.
public protocol SQLDatabase: Sendable {
    /// Names the database in errors: a path, or a URL without its password.
    var location: String { get }
    /// Which SQL it speaks, for the few statements that differ.
    var dialect: SQLDialect { get }
    /// Runs `body` over committed data: one snapshot in SQLite; in PostgreSQL each statement
    /// sees what was committed when it started (no reader needs more).
    func read<T>(_ body: (any SQLConnection) throws -> T) throws -> T
    /// Runs `body` in one transaction: committed when it returns, rolled back when it throws.
    /// A backend that guards writes (the PostgreSQL lease's fencing token) checks inside the
    /// transaction, before `body`, and throws without running it when the guard fails.
    @discardableResult
    func write<T>(_ body: (any SQLConnection) throws -> T) throws -> T
    /// Brings the schema up to date; refuses a database a newer version wrote.
    func migrate() throws
    /// The identifiers of the migrations applied, in the order they apply; the same in every backend.
    func appliedMigrations() throws -> [String]
}

/// The SQL a backend speaks.
public enum SQLDialect: Sendable {
    case sqlite
    case postgres
}

/// One open transaction or read, handed to a ``SQLDatabase`` body. Not to be kept.
public protocol SQLConnection {
    /// Runs a statement. - Returns: the rows it changed.
    @discardableResult
    func execute(_ sql: String, _ arguments: [SQLValue]) throws -> Int
    /// Calls `body` for each row, in order, without holding every row at once.
    func each(_ sql: String, _ arguments: [SQLValue], _ body: (SQLRow) throws -> Void) throws
}

extension SQLConnection {
    /// Runs a statement with `?` arguments. - Returns: the rows it changed.
    @discardableResult
    public func execute(_ sql: String, _ arguments: (any SQLBindable)?...) throws -> Int {
        try execute(sql, arguments.map { $0?.sqlValue ?? .null })
    }

    /// Every row.
    public func rows(_ sql: String, _ arguments: (any SQLBindable)?...) throws -> [SQLRow] {
        try rows(sql, arguments.map { $0?.sqlValue ?? .null })
    }

    /// Every row.
    public func rows(_ sql: String, _ arguments: [SQLValue]) throws -> [SQLRow] {
        var rows: [SQLRow] = []
        try each(sql, arguments) { rows.append($0) }
        return rows
    }

    /// The first row, if any.
    public func row(_ sql: String, _ arguments: (any SQLBindable)?...) throws -> SQLRow? {
        var first: SQLRow?
        try each(sql, arguments.map { $0?.sqlValue ?? .null }) { if first == nil { first = $0 } }
        return first
    }

    /// The first column of the first row, if any and not NULL.
    public func value<T: SQLDecodable>(
        _ sql: String,
        _ arguments: (any SQLBindable)?...,
        as type: T.Type = T.self
    ) throws -> T? {
        var first: SQLValue?
        try each(sql, arguments.map { $0?.sqlValue ?? .null }) { if first == nil { first = $0.values.first } }
        guard let first, first != .null else { return nil }
        return try T(sqlValue: first)
    }

    /// The first column of every row.
    public func column<T: SQLDecodable>(
        _ sql: String,
        _ arguments: (any SQLBindable)?...,
        as type: T.Type = T.self
    ) throws -> [T] {
        var result: [T] = []
        try each(sql, arguments.map { $0?.sqlValue ?? .null }) {
            result.append(try T(sqlValue: $0.values.first ?? .null))
        }
        return result
    }
}

/// A value bound to a statement or read from a row.
public enum SQLValue: Sendable, Equatable {
    case null
    case integer(Int64)
    case real(Double)
    case text(String)
    case blob(Data)
}

/// A row: values by column, looked up case-insensitively.
public struct SQLRow: Sendable {
    /// Column names, lower-cased.
    public let names: [String]
    /// Values, in column order.
    public let values: [SQLValue]

    /// A row from a backend; `names` are lower-cased here.
    public init(names: [String], values: [SQLValue]) {
        self.init(lowercasedNames: names.map { $0.lowercased() }, values: values)
    }

    /// A row whose names are lower-cased already (one array shared by every row of a result).
    public init(lowercasedNames: [String], values: [SQLValue]) {
        names = lowercasedNames
        self.values = values
    }

    /// The raw value of `column`; `.null` when there is no such column.
    public func value(_ column: String) -> SQLValue {
        let key = column.lowercased()
        guard let index = names.firstIndex(of: key) else { return .null }
        return values[index]
    }

    /// The value of `column`, decoded. A column of another type is a bug in a query of ours
    /// (the schema is ours), so it traps, as GRDB's row subscript does.
    public subscript<T: SQLDecodable>(_ column: String) -> T {
        do {
            return try T(sqlValue: value(column))
        } catch {
            preconditionFailure("column \(column): \(error)")
        }
    }

    /// The value of `column`, or `nil` when NULL.
    public subscript<T: SQLDecodable>(_ column: String) -> T? {
        let raw = value(column)
        if raw == .null { return nil }
        do {
            return try T(sqlValue: raw)
        } catch {
            preconditionFailure("column \(column): \(error)")
        }
    }
}

/// A value the store binds to a statement.
public protocol SQLBindable {
    /// The value as bound.
    var sqlValue: SQLValue { get }
}

/// A value the store reads from a row.
public protocol SQLDecodable {
    /// Decodes `sqlValue`; throws when it is of another kind.
    init(sqlValue: SQLValue) throws
}

/// A row value of an unexpected kind.
public struct SQLDecodingError: Error, CustomStringConvertible {
    /// What was found and what was wanted.
    public var description: String
}

extension String: SQLBindable, SQLDecodable {
    public var sqlValue: SQLValue { .text(self) }
    public init(sqlValue: SQLValue) throws {
        switch sqlValue {
        case .text(let text): self = text
        case .blob(let data): self = String(decoding: data, as: UTF8.self)
        default: throw SQLDecodingError(description: "expected text, found \(sqlValue)")
        }
    }
}

extension Int64: SQLBindable, SQLDecodable {
    public var sqlValue: SQLValue { .integer(self) }
    public init(sqlValue: SQLValue) throws {
        switch sqlValue {
        case .integer(let value): self = value
        case .real(let value) where value.rounded() == value: self = Int64(value)
        default: throw SQLDecodingError(description: "expected an integer, found \(sqlValue)")
        }
    }
}

extension Int: SQLBindable, SQLDecodable {
    public var sqlValue: SQLValue { .integer(Int64(self)) }
    public init(sqlValue: SQLValue) throws { self = Int(try Int64(sqlValue: sqlValue)) }
}

extension Bool: SQLBindable, SQLDecodable {
    /// Stored as 0 or 1 in both engines (an INTEGER column), so the schema is the same.
    public var sqlValue: SQLValue { .integer(self ? 1 : 0) }
    public init(sqlValue: SQLValue) throws { self = try Int64(sqlValue: sqlValue) != 0 }
}

extension Double: SQLBindable, SQLDecodable {
    public var sqlValue: SQLValue { .real(self) }
    public init(sqlValue: SQLValue) throws {
        switch sqlValue {
        case .real(let value): self = value
        case .integer(let value): self = Double(value)
        default: throw SQLDecodingError(description: "expected a number, found \(sqlValue)")
        }
    }
}

extension Data: SQLBindable, SQLDecodable {
    public var sqlValue: SQLValue { .blob(self) }
    public init(sqlValue: SQLValue) throws {
        switch sqlValue {
        case .blob(let data): self = data
        case .text(let text): self = Data(text.utf8)
        default: throw SQLDecodingError(description: "expected bytes, found \(sqlValue)")
        }
    }
}

extension Date: SQLBindable, SQLDecodable {
    /// Seconds since 1970, as a REAL / DOUBLE PRECISION column.
    public var sqlValue: SQLValue { .real(timeIntervalSince1970) }
    public init(sqlValue: SQLValue) throws { self = Date(timeIntervalSince1970: try Double(sqlValue: sqlValue)) }
}

extension SQLBindable where Self: RawRepresentable, RawValue == String {
    public var sqlValue: SQLValue { .text(rawValue) }
}

extension SQLDecodable where Self: RawRepresentable, RawValue == String {
    public init(sqlValue: SQLValue) throws {
        let text = try String(sqlValue: sqlValue)
        guard let value = Self(rawValue: text) else {
            throw SQLDecodingError(description: "'\(text)' is not a \(Self.self)")
        }
        self = value
    }
}

/// Interpolates `?` marks for `count` values: `IN (?, ?, ?)`.
func sqlMarks(_ count: Int) -> String {
    Array(repeating: "?", count: count).joined(separator: ",")
}
