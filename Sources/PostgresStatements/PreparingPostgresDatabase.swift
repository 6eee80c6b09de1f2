import Foundation
import Logging
import NIOCore
import PostgresKit
import PostgresNIO
import SQLKit

/// An `SQLDatabase` on PostgreSQL that runs frequent statements as named prepared statements
/// (``PreparedStatementRegistry``) and everything else through `base` unchanged. The SQL is the same on both
/// databases; only how PostgreSQL receives it changes.
///
/// A prepared statement runs on the connection `base` hands out (``PostgresNIO/PostgresDatabase/withConnection(_:)``:
/// the connection itself for a transaction's database, a pool checkout per statement otherwise, as `base` does),
/// through PostgresNIO's own per-connection statement state (it prepares a name on first use on a connection, and
/// runs concurrent first uses once).
///
/// Off when the environment variable `LIMSQUEUE_POSTGRES_PREPARED` is `0`, `off` or `false` (a pooler in
/// transaction mode without prepared-statement support, such as PgBouncer before 1.21).
public struct PreparingPostgresDatabase: SQLDatabase {
    /// The environment variable that turns prepared statements off.
    public static let environmentVariable = "LIMSQUEUE_POSTGRES_PREPARED"

    /// Whether prepared statements are on (read once per process).
    public static let enabled: Bool = {
        let value = ProcessInfo.processInfo.environment[environmentVariable]?.lowercased() ?? ""
        return !["0", "off", "false", "no"].contains(value)
    }()

    let base: any SQLDatabase
    let postgres: any PostgresDatabase
    let registry: PreparedStatementRegistry

    /// `sql` with prepared statements when it is a PostgreSQL database and they are on; `sql` itself otherwise.
    public static func wrapping(_ sql: any SQLDatabase, registry: PreparedStatementRegistry = .shared) -> any SQLDatabase {
        guard enabled, !(sql is PreparingPostgresDatabase), let postgres = sql as? any PostgresDatabase else { return sql }
        return PreparingPostgresDatabase(base: sql, postgres: postgres, registry: registry)
    }

    public var logger: Logger { base.logger }
    public var eventLoop: any EventLoop { base.eventLoop }
    public var version: (any SQLDatabaseReportedVersion)? { base.version }
    public var dialect: any SQLDialect { base.dialect }
    public var queryLogLevel: Logger.Level? { base.queryLogLevel }

    public func execute(sql query: any SQLExpression, _ onRow: @escaping @Sendable (any SQLRow) -> ()) -> EventLoopFuture<Void> {
        let (text, binds) = serialize(query)
        guard let (plan, bindings) = prepared(text, binds) else { return base.execute(sql: query, onRow) }
        return run(plan, bindings, onRow)
    }

    public func execute(sql query: any SQLExpression, _ onRow: @escaping @Sendable (any SQLRow) -> ()) async throws {
        let (text, binds) = serialize(query)
        guard let (plan, bindings) = prepared(text, binds) else { return try await base.execute(sql: query, onRow) }
        try await run(plan, bindings, onRow).get()
    }

    /// The plan and the encoded binds when the statement runs prepared.
    private func prepared(_ text: String, _ binds: [any Encodable & Sendable]) -> (PreparedStatementRegistry.Plan, PostgresBindings)? {
        guard PreparedStatementRegistry.isEligible(text, binds: binds.count), let (signature, bindings) = Self.encode(binds),
              let plan = registry.plan(for: text, signature: signature, binds: binds.count) else { return nil }
        return (plan, bindings)
    }

    private func run(_ plan: PreparedStatementRegistry.Plan, _ bindings: PostgresBindings,
                     _ onRow: @escaping @Sendable (any SQLRow) -> ()) -> EventLoopFuture<Void> {
        let registry = self.registry
        return postgres.withConnection { connection in
            connection.eventLoop.makeFutureWithTask {
                do {
                    let rows = try await DynamicPreparedStatement.$current.withValue(plan) {
                        try await connection.execute(DynamicPreparedStatement(bindings: bindings), logger: connection.logger)
                    }
                    for try await row in rows { onRow(PreparedStatementRow(row)) }
                } catch {
                    registry.failed(plan)
                    throw error
                }
            }
        }
    }

    /// The binds' type signature and their PostgreSQL encoding; nil when a bind has no direct PostgreSQL encoding
    /// (the statement then runs through `base`, which knows every `Encodable`).
    ///
    /// Text, whole numbers, doubles and booleans (and optionals holding one) are appended at once, each with its
    /// type's name in the signature: through the protocol casts and `String(describing:)` of the type below, the
    /// encoding took 6 % of all samples of `limsqueue bench lims` on PostgreSQL (perf), more than the rows' decoding.
    static func encode(_ binds: [any Encodable & Sendable]) -> (String, PostgresBindings)? {
        var bindings = PostgresBindings(capacity: binds.count)
        var signature = ""
        func append<Value: PostgresDynamicTypeEncodable>(_ value: Value, named name: String) {
            bindings.append(value)
            signature += name
        }
        for bind in binds {
            switch bind {
            case let text as String: append(text, named: "String,"); continue
            case let integer as Int: append(integer, named: "Int,"); continue
            case let double as Double: append(double, named: "Double,"); continue
            case let flag as Bool: append(flag, named: "Bool,"); continue
            default: break
            }
            let value: Any? = (bind as? any OptionalBind).map { $0.wrappedBind } ?? bind
            guard let value else {
                bindings.appendNull()
                signature += "nil,"
                continue
            }
            guard let encodable = value as? any PostgresThrowingDynamicTypeEncodable else { return nil }
            do {
                try bindings.append(encodable, context: .default)
            } catch {
                return nil
            }
            signature += String(describing: type(of: encodable)) + ","
        }
        return (signature, bindings)
    }
}

/// An optional bind, unwrapped to its value (nil for none).
protocol OptionalBind {
    var wrappedBind: Any? { get }
}

extension Optional: OptionalBind {
    var wrappedBind: Any? {
        switch self {
        case .some(let value): (value as? any OptionalBind).map { $0.wrappedBind } ?? value
        case .none: nil
        }
    }
}

/// The statement PostgresNIO's prepared-statement API runs. That API takes a statement's name and SQL from its
/// type; here they come from the plan of the running call (a task-local value, read by PostgresNIO while the call
/// is made), so one type serves every statement of the registry.
struct DynamicPreparedStatement: PostgresPreparedStatement {
    typealias Row = PostgresRow

    @TaskLocal static var current: PreparedStatementRegistry.Plan?

    static var name: String { current?.name ?? "lq_unset" }
    static var sql: String { current?.sql ?? "SELECT 1 WHERE false" }

    let bindings: PostgresBindings

    func makeBindings() throws -> PostgresBindings { bindings }
    func decodeRow(_ row: PostgresRow) throws -> PostgresRow { row }
}
