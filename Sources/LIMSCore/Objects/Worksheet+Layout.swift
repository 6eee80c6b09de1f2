/// Layout queries (SENAITE `get_analyses_at`, `get_container_at`, `get_slot_positions`, ...), reference 3.3.
extension Worksheet {
    /// UIDs of all analyses on the worksheet, in layout order.
    public var analysisUIDs: [String] { layout.map(\.analysisUID) }

    /// Occupied positions, ascending, without repeats.
    public var occupiedPositions: [Int] { Array(Set(layout.map(\.position))).sorted() }

    /// Rows at `position`.
    public func rows(at position: Int) -> [WorksheetLayoutRow] { layout.filter { $0.position == position } }

    /// The container (sample or reference sample) at `position`, nil when the slot is empty.
    public func container(at position: Int) -> String? { rows(at: position).first?.containerUID }

    /// The slot type at `position`, nil when the slot is empty.
    public func slotType(at position: Int) -> SlotType? { rows(at: position).first?.type }

    /// The position of `analysisUID`, nil when not on this worksheet.
    public func position(of analysisUID: String) -> Int? {
        layout.first { $0.analysisUID == analysisUID }?.position
    }

    /// The routine (`a`) slot holding `containerUID`, nil when the sample is not on this worksheet.
    public func routineSlot(ofSample containerUID: String) -> Int? {
        layout.first { $0.type == .routine && $0.containerUID == containerUID }?.position
    }

    /// The smallest positive position with no row.
    public var smallestFreePosition: Int {
        let used = Set(layout.map(\.position))
        var candidate = 1
        while used.contains(candidate) { candidate += 1 }
        return candidate
    }

    /// Inserts a row keeping the layout sorted by position (stable for equal positions).
    mutating func insertRow(_ row: WorksheetLayoutRow) {
        let index = layout.firstIndex { $0.position > row.position } ?? layout.endIndex
        layout.insert(row, at: index)
    }
}
