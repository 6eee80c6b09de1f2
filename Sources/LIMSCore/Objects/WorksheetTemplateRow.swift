/// One row of a worksheet template layout.
///
/// JSON field names are SENAITE's: `pos`, `type`, `blank_ref`, `control_ref`, `dup`. `blankRef`/`controlRef`
/// are ReferenceDefinition uids (for `b`/`c` rows); `dup` is the source position of a `d` row.
///
/// Source: senaite.core `WorksheetTemplate.Layout`, reference 3.4.
public struct WorksheetTemplateRow: Sendable, Codable, Equatable, Hashable {
    /// Slot number, 1-based.
    public var pos: Int
    public var type: SlotType
    public var blankRef: String?
    public var controlRef: String?
    /// Source position for a duplicate row.
    public var dup: Int?

    public init(pos: Int, type: SlotType, blankRef: String? = nil, controlRef: String? = nil, dup: Int? = nil) {
        self.pos = pos
        self.type = type
        self.blankRef = blankRef
        self.controlRef = controlRef
        self.dup = dup
    }

    /// A routine row.
    public static func routine(_ pos: Int) -> Self { Self(pos: pos, type: .routine) }
    /// A duplicate row of `source`.
    public static func duplicate(_ pos: Int, of source: Int) -> Self { Self(pos: pos, type: .duplicate, dup: source) }
    /// A blank row using reference definition `definitionUID`.
    public static func blank(_ pos: Int, definition definitionUID: String) -> Self {
        Self(pos: pos, type: .blank, blankRef: definitionUID)
    }
    /// A control row using reference definition `definitionUID`.
    public static func control(_ pos: Int, definition definitionUID: String) -> Self {
        Self(pos: pos, type: .control, controlRef: definitionUID)
    }

    enum CodingKeys: String, CodingKey {
        case pos, type, dup
        case blankRef = "blank_ref"
        case controlRef = "control_ref"
    }
}
