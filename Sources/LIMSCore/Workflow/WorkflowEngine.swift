/// Runs the workflows of ``LabWorkflows`` on a ``LabState``: evaluates guards, changes states and runs the
/// before/after events (which may transition other objects: worksheet and sample auto-transitions, retests).
///
/// Evaluation order for a transition: object exists → transition possible from the current state → queue
/// pre-guard (samples, worksheets) → permission → the transition's guard.
///
/// ```swift
/// let outcome = WorkflowEngine.doTransition("submit", on: cu.uid, context: ctx, state: &lab, now: 1_700_000_000)
/// if case .refused(let guardID, let reason) = outcome { print(guardID, reason) }
/// ```
///
/// Source: DCWorkflow + senaite.core `guard_handler` / `AfterTransitionEventHandler`, reference 1.11, 3.1-3.2.
public enum WorkflowEngine {
    /// Transition ids whose guards currently pass for `uid`, in workflow order. Empty for unknown uids and
    /// objects without a workflow.
    public static func allowedTransitions(for uid: String, context: TransitionContext, state: LabState) -> [String] {
        guard let object = state.object(uid), let workflow = LabWorkflows.workflow(for: object),
              let current = object.workflowState
        else { return [] }
        return workflow.exits(from: current)
            .filter { check($0.id, on: uid, context: context, state: state) == nil }
            .map(\.id)
    }

    /// Why `transition` cannot run on `uid` now, or nil when it can.
    public static func check(
        _ transition: String, on uid: String, context: TransitionContext, state: LabState
    ) -> GuardRefusal? {
        guard let object = state.object(uid) else {
            return GuardRefusal(GuardID.exists, "No object with uid \(uid) exists")
        }
        let label = state.label(uid)
        guard let workflow = LabWorkflows.workflow(for: object), let current = object.workflowState else {
            return GuardRefusal(GuardID.state, "\(label) has no workflow")
        }
        guard let definition = workflow.transition(transition) else {
            return GuardRefusal(GuardID.state, "'\(transition)' is not possible for \(label)")
        }
        guard definition.from.contains(current) else {
            let allowed = definition.from.sorted().joined(separator: ", ")
            return GuardRefusal(GuardID.state,
                                "\(label) is \(current); '\(transition)' is only possible from: \(allowed)")
        }
        if let refusal = queuePreGuard(object, context: context, state: state) { return refusal }
        if let permission = definition.permission, !context.systemAction,
           !state.hasPermission(permission, on: uid, user: context.user) {
            return GuardRefusal(GuardID.permission,
                                "\(context.user.userid) may not \(transition) \(label) (needs the '\(permission.rawValue)' permission)")
        }
        if let guardID = definition.guardID {
            return evaluateGuard(guardID, transition: transition, uid: uid, context: context, state: state)
        }
        return nil
    }

    /// Performs `id` on `uid` and everything its events cause. On refusal nothing changes.
    public static func doTransition(
        _ id: String, on uid: String, context: TransitionContext, state: inout LabState, now: Double
    ) -> TransitionOutcome {
        var events: [LabEvent] = []
        if let refusal = perform(id, on: uid, context: context, state: &state, now: now, events: &events) {
            return .refused(guard: refusal.guardID, reason: refusal.reason)
        }
        return .done(events: events)
    }

    /// Performs a transition, appending to `events`; returns the refusal instead when a guard says no.
    @discardableResult
    static func perform(
        _ id: String, on uid: String, context: TransitionContext, state: inout LabState, now: Double,
        events: inout [LabEvent]
    ) -> GuardRefusal? {
        if let refusal = check(id, on: uid, context: context, state: state) { return refusal }
        guard let object = state.object(uid), let workflow = LabWorkflows.workflow(for: object),
              let definition = workflow.transition(id), let from = object.workflowState
        else { return GuardRefusal(GuardID.exists, "No object with uid \(uid) exists") }
        if let before = definition.beforeEvent {
            runEvent(before, on: uid, context: context, state: &state, now: now, events: &events)
        }
        _ = state.setReviewState(uid, definition.to)
        events.append(.transitioned(uid: uid, transition: id, from: from, to: definition.to))
        if let after = definition.afterEvent {
            runEvent(after, on: uid, context: context, state: &state, now: now, events: &events)
        }
        return nil
    }

    /// Tries a transition and ignores a refusal (SENAITE `doActionFor` in events).
    static func attempt(
        _ id: String, on uid: String, context: TransitionContext, state: inout LabState, now: Double,
        events: inout [LabEvent]
    ) {
        perform(id, on: uid, context: context, state: &state, now: now, events: &events)
    }

    /// senaite.queue pre-guards: samples (bypassed inside a queued task) and worksheets (never bypassed).
    static func queuePreGuard(_ object: any LabObject, context: TransitionContext, state: LabState) -> GuardRefusal? {
        let queued = context.queuedUIDs
        switch object {
        case let sample as Sample:
            if context.insideQueuedTask || queued.isEmpty { return nil }
            if queued.contains(sample.uid) {
                return GuardRefusal(GuardID.queueSample,
                                    "queued: sample \(sample.id) is being processed in background")
            }
            if let analysis = state.analyses(ofSample: sample.uid).first(where: { queued.contains($0.uid) }) {
                return GuardRefusal(GuardID.queueSample,
                                    "queued: analysis \(analysis.id) of sample \(sample.id) is being processed in background")
            }
        case let worksheet as Worksheet:
            if queued.isEmpty { return nil }
            if queued.contains(worksheet.uid) {
                return GuardRefusal(GuardID.queueWorksheet,
                                    "queued: worksheet \(worksheet.id) is being processed in background")
            }
            if let uid = worksheet.analysisUIDs.first(where: { queued.contains($0) }) {
                return GuardRefusal(GuardID.queueWorksheet,
                                    "queued: \(state.label(uid)) on worksheet \(worksheet.id) is being processed in background")
            }
        default:
            break
        }
        return nil
    }
}
