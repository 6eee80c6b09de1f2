import Foundation
import LIMSCore
import QueueCore
import SQLKit
@testable import Storage
import TestSupport
import Testing

/// New objects are written by one statement per batch (``SQLLabStore/insertStatement(_:seq:on:)``): a multi-row
/// `VALUES` list on SQLite, one array per column on PostgreSQL. Either way each stored column is exactly the
/// object's, NULL where the object has none and empty text where it has empty text.
@Suite("Lab store: new objects' columns are stored exactly, NULLs and text alike")
struct BulkInsertTests {
    @Test("a batch of new objects stores each catalog column as the object has it", arguments: StoreBackend.available)
    func columnsStoredExactly(backend: StoreBackend) async throws {
        try await StoreFixture.with(backend: backend) { f in
            let now = f.now
            let created = try await f.lab.perform { state -> [String] in
                let uids = RandomUIDGenerator()
                // Names with quotes, a backslash, non-ASCII text and braces (the array form's text format would need
                // them quoted; the binary form carries them as they are).
                let client = state.createClient(name: "O'Brien \\ \"Lab\" {a,b} Zürich ☃", clientID: "C1", uids: uids, now: now)
                let contact = try state.createContact(in: client.uid, firstname: "", surname: "NULL", uids: uids, now: now)
                let water = try state.createSampleType(title: "Water", prefix: "H2O", uids: uids, now: now)
                let cu = try state.createAnalysisService(title: "Copper", keyword: "Cu", sortKey: 1, uids: uids, now: now)
                for index in 0..<30 {
                    _ = try state.createSample(clientUID: client.uid, contactUID: contact.uid, sampleTypeUID: water.uid,
                                               serviceUIDs: [cu.uid], priority: 1 + index % 5, uids: uids, now: now + Double(index))
                }
                return state.changes.created.sorted()
            }
            let sql = try f.lab.sql
            let whole = try await f.lab.load()
            let rows = try await SQLLabReader.rows(in: created, {
                """
                SELECT uid, portal_type, path, parent_uid, review_state, version, created, body, object_id, client_uid, sample_uid,
                       worksheet_uid, service_uid, lookup_key, sort_key
                FROM lims_objects WHERE uid \($0)
                """
            }, on: sql)
            #expect(rows.count == created.count)
            var nulls = 0
            for row in rows {
                let uid = try row.decode(column: "uid", as: String.self)
                let object = try #require(whole.object(uid))
                let columns = CatalogColumns(object)
                #expect(try row.decode(column: "portal_type", as: String.self) == type(of: object).portalType.rawValue)
                #expect(try row.decode(column: "path", as: String.self) == object.path)
                #expect(try row.decode(column: "parent_uid", as: String?.self) == object.parentUID)
                #expect(try row.decode(column: "review_state", as: String?.self) == object.workflowState)
                #expect(try row.decode(column: "version", as: Int.self) == 1)
                #expect(try row.decode(column: "created", as: Double.self) == object.created)
                #expect(try row.decode(column: "object_id", as: String.self) == columns.objectID)
                let stored = try ["client_uid", "sample_uid", "worksheet_uid", "service_uid", "lookup_key", "sort_key"]
                    .map { try row.decode(column: $0, as: String?.self) }
                #expect(stored == [columns.clientUID, columns.sampleUID, columns.worksheetUID, columns.serviceUID, columns.lookupKey,
                                   columns.sortKey], "\(uid)")
                nulls += stored.filter { $0 == nil }.count
                let decoded = try LabObjectCoding.decode(try row.decode(column: "body", as: String.self),
                                                         portalType: type(of: object).portalType.rawValue, version: 1)
                #expect(try LabObjectCoding.encode(decoded) == LabObjectCoding.encode(object))
            }
            #expect(nulls > 0)
            #expect(whole.clients.loaded.first?.name == "O'Brien \\ \"Lab\" {a,b} Zürich ☃")
        }
    }
}
