/// The type of a worksheet slot / layout row, persisted as SENAITE's one-letter codes.
///
/// Source: senaite.core `Worksheet.Layout` and `WorksheetTemplate.Layout`, reference 3.3-3.4.
public enum SlotType: String, Sendable, Codable, Hashable, CaseIterable {
    /// `a`: routine analyses; container = the sample.
    case routine = "a"
    /// `b`: blank reference analyses; container = the reference sample.
    case blank = "b"
    /// `c`: control reference analyses; container = the reference sample.
    case control = "c"
    /// `d`: duplicates; container = the sample of the source slot.
    case duplicate = "d"
}
