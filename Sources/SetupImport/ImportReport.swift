import LIMSCore

/// What an import did: per portal type, how many objects it created and how many existing ones it matched by
/// natural key and updated, in import order; plus notes on what it skipped.
///
/// "Updated" counts every matched object; the object is written (recorded in ``LabState/changes``) only when
/// one of its fields actually differs from the workbook.
public struct ImportReport: Sendable, Equatable {
    /// Counts for one portal type.
    public struct TypeCount: Sendable, Equatable {
        public let portalType: PortalType
        public internal(set) var created: Int
        public internal(set) var updated: Int

        /// `created + updated`: the objects of this type the workbook describes.
        public var total: Int { created + updated }
    }

    /// The types an import touches, in import order (SENAITE portal type names).
    public static let importOrder: [PortalType] = [
        .labContact, .user, .client, .contact, .sampleType, .method, .instrument, .analysisCategory,
        .analysisService, .referenceDefinition, .referenceSample, .worksheetTemplate,
    ]

    /// One entry per type of ``importOrder``, zeros included.
    public internal(set) var counts: [TypeCount]
    /// Skipped sheets, fields without a LIMSCore counterpart, group names without a role, and similar.
    public internal(set) var notes: [String]

    init() {
        counts = Self.importOrder.map { TypeCount(portalType: $0, created: 0, updated: 0) }
        notes = []
    }

    /// The counts of `type` (zeros for a type the importer does not handle).
    public func count(_ type: PortalType) -> TypeCount {
        counts.first { $0.portalType == type } ?? TypeCount(portalType: type, created: 0, updated: 0)
    }

    /// Objects created, over all types.
    public var totalCreated: Int { counts.reduce(0) { $0 + $1.created } }
    /// Objects matched and updated, over all types.
    public var totalUpdated: Int { counts.reduce(0) { $0 + $1.updated } }

    /// `<portal type>: <created + updated>`, one per type in import order, e.g. `Client: 5`.
    public var lines: [String] { counts.map { "\($0.portalType.rawValue): \($0.total)" } }

    /// `Client: 5 (5 created, 0 updated)`, one per type in import order.
    public var detailedLines: [String] {
        counts.map { "\($0.portalType.rawValue): \($0.total) (\($0.created) created, \($0.updated) updated)" }
    }

    mutating func record(_ type: PortalType, created: Bool) {
        guard let index = counts.firstIndex(where: { $0.portalType == type }) else { return }
        if created { counts[index].created += 1 } else { counts[index].updated += 1 }
    }

    mutating func note(_ text: String) {
        if !notes.contains(text) { notes.append(text) }
    }
}
