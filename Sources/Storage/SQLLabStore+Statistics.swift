import SQLKit

extension SQLLabStore {
    /// Refreshes the query planner's statistics of the lab's tables after a bulk load (PostgreSQL `ANALYZE`; a
    /// no-op on SQLite, whose planner reads no statistics unless asked).
    ///
    /// PostgreSQL's autovacuum analyzes a table only after enough rows changed and a delay; until then a table
    /// loaded in bulk has no statistics and the planner may pick plans that read every row of a type.
    /// Source: https://www.postgresql.org/docs/15/routine-vacuuming.html#VACUUM-FOR-STATISTICS
    /// - Throws: storage errors.
    public func refreshPlannerStatistics() async throws {
        let sql = try self.sql
        guard sql.dialect.name == "postgresql" else { return }
        try await sql.raw("ANALYZE lims_objects, lims_security").run()
    }
}
