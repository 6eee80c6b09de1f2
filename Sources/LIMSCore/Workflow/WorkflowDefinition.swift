/// A workflow as data: its states, initial state and ordered transitions.
///
/// Source: DCWorkflow definitions of senaite.core, reference 3.1-3.2.
public struct WorkflowDefinition: Sendable, Codable, Equatable {
    /// Workflow id, e.g. `bika_analysis_workflow`.
    public let id: String
    public let initialState: String
    public let states: [String]
    /// Transitions in display order (``WorkflowEngine/allowedTransitions(for:context:state:)`` keeps it).
    public let transitions: [TransitionDefinition]

    public init(id: String, initialState: String, states: [String], transitions: [TransitionDefinition]) {
        self.id = id
        self.initialState = initialState
        self.states = states
        self.transitions = transitions
    }

    /// The transition with `id`, nil if the workflow has none.
    public func transition(_ id: String) -> TransitionDefinition? { transitions.first { $0.id == id } }

    /// Transitions that may start from `state` (guards not evaluated).
    public func exits(from state: String) -> [TransitionDefinition] { transitions.filter { $0.from.contains(state) } }
}
