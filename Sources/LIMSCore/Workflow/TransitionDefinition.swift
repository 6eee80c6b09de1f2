/// One transition of a workflow, as data: where it may start, where it leads, what guards it and which
/// events run around it.
///
/// Source: DCWorkflow `definition.xml` transitions of senaite.core, reference 3.1-3.2.
public struct TransitionDefinition: Sendable, Codable, Equatable {
    /// Transition id, e.g. `submit`.
    public let id: String
    /// States the transition may start from.
    public let from: Set<String>
    /// Target state (equal to a from-state for self-transitions such as `multi_verify`).
    public let to: String
    /// Guard evaluated after the pre-guards and the permission (``GuardID``), nil = none.
    public let guardID: String?
    /// Permission the acting user needs, nil for automatic transitions derived from other objects.
    public let permission: Permission?
    /// Event run before the state changes, nil = none.
    public let beforeEvent: String?
    /// Event run after the state changes, nil = none.
    public let afterEvent: String?

    public init(
        _ id: String, from: Set<String>, to: String, guardID: String? = nil, permission: Permission? = nil,
        beforeEvent: String? = nil, afterEvent: String? = nil
    ) {
        self.id = id
        self.from = from
        self.to = to
        self.guardID = guardID
        self.permission = permission
        self.beforeEvent = beforeEvent
        self.afterEvent = afterEvent
    }
}
