/// Something an operation did, in order, for audit logs, re-indexing and tests.
public enum LabEvent: Sendable, Equatable, Codable {
    /// `uid` moved from `from` to `to` by `transition`.
    case transitioned(uid: String, transition: String, from: String, to: String)
    /// A new object (e.g. a retest, a duplicate).
    case created(uid: String, portalType: PortalType)
    /// An object was deleted (unassigned duplicate/reference analysis, removed worksheet).
    case deleted(uid: String, portalType: PortalType)
    /// An analysis got a layout row on a worksheet.
    case addedToWorksheet(analysisUID: String, worksheetUID: String, position: Int)
    /// An analysis lost its layout row.
    case removedFromWorksheet(analysisUID: String, worksheetUID: String)
}
