/// One row of a worksheet layout: one analysis at one position (slot). Several rows share a position.
///
/// JSON field names are SENAITE's: `position`, `type`, `container_uid`, `analysis_uid`.
///
/// Source: senaite.core `Worksheet.Layout`, reference 3.3.
public struct WorksheetLayoutRow: Sendable, Codable, Equatable, Hashable {
    /// Slot number, 1-based.
    public var position: Int
    public var type: SlotType
    /// The sample (types a, d) or reference sample (types b, c).
    public var containerUID: String
    public var analysisUID: String

    public init(position: Int, type: SlotType, containerUID: String, analysisUID: String) {
        self.position = position
        self.type = type
        self.containerUID = containerUID
        self.analysisUID = analysisUID
    }

    enum CodingKeys: String, CodingKey {
        case position, type
        case containerUID = "container_uid"
        case analysisUID = "analysis_uid"
    }
}
