import FluentKit
import SQLKit

/// Schema: drops `lims_objects_seq`, the index on each object's write stamp (`seq`), which no query reads any more
/// (it served the whole-lab cache's reload of changed rows, gone with the working sets of issue 11).
///
/// Every write of an object sets a new stamp, so on PostgreSQL the index made every update change an indexed
/// column: never a heap-only (HOT) update, always a new entry in each of the table's 14 indexes, even for a result
/// entered, whose catalog columns stay as they were. Without it such an update can stay on its page and touch no
/// index. On SQLite it saves one index write per object written. The stamp itself is still written. Same DDL on
/// SQLite and PostgreSQL; `revert` creates the index again.
public struct DropLabStampIndex: AsyncMigration {
    public init() {}

    public var name: String { "limsqueue-0011-drop-lab-stamp-index" }

    public func prepare(on database: any Database) async throws {
        try await database.sqlDatabase().raw("DROP INDEX IF EXISTS lims_objects_seq").run()
    }

    public func revert(on database: any Database) async throws {
        try await database.sqlDatabase().raw("CREATE INDEX lims_objects_seq ON lims_objects (seq)").run()
    }
}
