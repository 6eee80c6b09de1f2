/// What applying (part of) a worksheet template did.
public struct TemplateApplication: Sendable, Equatable {
    /// Routine analyses assigned, in assignment order.
    public var assigned: [String] = []
    /// Duplicates created.
    public var duplicates: [String] = []
    /// Reference (blank/control) analyses created.
    public var references: [String] = []
    /// Analyses or template slots skipped, with the reason in lab words (key: analysis uid or `slot <n>`).
    public var skipped: [String: String] = [:]
    /// Everything that happened, in order.
    public var events: [LabEvent] = []

    public init() {}
}
