/// The result of ``WorkflowEngine/doTransition(_:on:context:state:now:)``.
public enum TransitionOutcome: Sendable, Equatable {
    /// The transition happened; `events` lists it and everything its events caused, in order.
    case done(events: [LabEvent])
    /// Nothing changed. `guard` names the refusing guard (``GuardID``), `reason` says why in lab words.
    case refused(guard: String, reason: String)

    /// True for `.done`.
    public var isDone: Bool { if case .done = self { true } else { false } }

    /// Events of a `.done` outcome, empty when refused.
    public var events: [LabEvent] { if case .done(let events) = self { events } else { [] } }

    /// The refusing guard, nil when done.
    public var refusingGuard: String? { if case .refused(let id, _) = self { id } else { nil } }
}
