import Foundation
import LIMSCore
import QueueCore

/// Workflow actions and result entry.
///
/// Source: senaite.app.listing `workflow_action`, senaite.queue's worksheet action adapters (reference 1.12) and
/// senaite.jsonapi `update`.
extension LabActions {
    /// Worksheet actions that go through the queue when it is ready (senaite.queue's worksheet action adapters,
    /// reference 1.12).
    public static let queuedWorksheetActions = Set(LimsTaskKind.queuedWorksheetActions)

    /// What `workflow_action` takes: every transition of the lab's workflows, and `assign`/`unassign` on a worksheet.
    public static let workflowActions = Set(LabWorkflows.transitionIDs + ["assign", "unassign"])

    /// Runs `action` on every uid, acting from the worksheet `contextUID` when given (`assign` adds the analysis
    /// to its layout, `unassign` removes it).
    ///
    /// With a worksheet context, one of ``queuedWorksheetActions`` and the queue ready, the action becomes one
    /// `task_action_<action>` written in the same transaction, and the outcome carries the task and one item per
    /// uid (queued, or already queued by an earlier request). Otherwise every uid is tried in one unit of work (atomic, conflict-retried) and refusals name their
    /// guard; objects of queued tasks are guarded (reference 1.11), and an analysis a queued or running task names
    /// is refused (``LIMSCore/GuardID/queueAnalysis``: a tryout unassigned an analysis whose submit was queued, and
    /// the task then submitted it off its worksheet).
    /// - Throws: ``LabActionError`` 400 naming `action` for an action that is no transition of any workflow nor
    ///   `assign`/`unassign` (a tryout's unknown action answered 200 with every item refused), naming `context_uid`
    ///   for an unknown worksheet; ``AlreadyQueuedError`` when the same action is still queued for the worksheet
    ///   (reference 4).
    public func workflowAction(userID: String?, action: String, uids targets: [String], contextUID: String?) async throws -> ActionOutcome {
        guard Self.workflowActions.contains(action) else {
            throw LabActionError(.invalidInput, "Field 'action': no action '\(action.prefix(64))' (one of \(Self.workflowActions.sorted().joined(separator: ", ")))")
        }
        if let contextUID, Self.queuedWorksheetActions.contains(action), let settings = try await readySettings() {
            return try await enqueueWorksheetAction(action, uids: targets, worksheetUID: contextUID, settings: settings, userID: userID)
        }
        let now = clock.now(), uids = self.uids
        let (items, state) = try await perform(serializedOn: contextUID) { state, reader -> ([ActionItem], LabState) in
            let user = try Self.user(userID, in: state)
            try await reader.loadClosure(of: targets + (contextUID.map { [$0] } ?? []), into: &state)
            let guarded = try await guardedUIDs(in: state)
            if let contextUID {
                guard state.worksheets[contextUID] != nil, state.isVisible(contextUID, to: user) else {
                    throw LabActionError(.invalidInput, "Field 'context_uid': no worksheet with uid '\(contextUID)'")
                }
            }
            let context = TransitionContext(user: user, worksheetUID: contextUID, queuedUIDs: guarded, uids: uids)
            var items: [ActionItem] = []
            for uid in targets {
                var refusal: (guardID: String, reason: String)?
                // An object the user may not see is answered exactly as one that does not exist (no review state).
                let visible = state.object(uid) != nil && state.isVisible(uid, to: user)
                if !visible {
                    refusal = (GuardID.exists, "No object with uid \(uid)")
                } else if guarded.contains(uid), state.analysisRecord(uid) != nil {
                    refusal = (GuardID.queueAnalysis, Self.busyReason(uid, in: state))
                } else if action == "assign", let contextUID {
                    do {
                        try state.addAnalysis(uid, to: contextUID, context: context, now: now)
                    } catch let error as LabError {
                        refusal = (error.guardID ?? error.code.rawValue, error.message)
                    }
                } else if action == "unassign" {
                    if case .refused(let guardID, let reason) = state.removeAnalysis(uid, context: context, now: now) {
                        refusal = (guardID, reason)
                    }
                } else if case .refused(let guardID, let reason) = WorkflowEngine.doTransition(
                    action, on: uid, context: context, state: &state, now: now) {
                    refusal = (guardID, reason)
                }
                items.append(ActionItem(uid: uid, success: refusal == nil, message: refusal?.reason ?? "\(action): done",
                                        guardID: refusal?.guardID, reviewState: visible ? state.object(uid)?.workflowState : nil))
            }
            return (items, state)
        }
        return ActionOutcome(items: items, queuedTask: nil, state: state)
    }

    /// Queues `task_action_<action>` for `uids` on a worksheet in the same transaction as the request.
    ///
    /// The user's permission is checked for every analysis now: what they may not do is refused at once (items
    /// with guard `permission`) and only the rest is queued; when nothing is left, nothing is queued and the
    /// outcome carries the refusals only (as the same action without a worksheet would).
    ///
    /// Analyses already in a queued task of the same action for the worksheet are left out (the outcome's items say
    /// so); when nothing is left the action is a repeat and ``AlreadyQueuedError`` names the queued task. The check
    /// reads the queue inside the unit of work, which also claims the worksheet's version, so two racing requests
    /// are serialized: the second one, retried after the conflict, sees the first one's task (reference 4).
    func enqueueWorksheetAction(_ action: String, uids targets: [String], worksheetUID: String, settings: QueueSettings,
                                userID: String?) async throws -> ActionOutcome {
        let now = clock.now(), name = LimsTaskKind.worksheetAction(action)
        guard let queue else { throw LabActionError(.internalFault, "no queue") }
        let (items, task, state) = try await performEnqueuing(action: action, contextUID: worksheetUID) {
            state, reader -> (([ActionItem], QueueTask?, LabState), [QueueTask]) in
            let user = try Self.user(userID, in: state)
            try await reader.load([worksheetUID], into: &state)
            guard let worksheet = state.worksheets[worksheetUID], state.isVisible(worksheetUID, to: user) else {
                throw LabActionError(.invalidInput, "Field 'context_uid': no worksheet with uid '\(worksheetUID)'")
            }
            var seen: Set<String> = []
            let requested = targets.filter { seen.insert($0).inserted }
            guard !requested.isEmpty else { throw LabActionError(.invalidInput, "Field 'uids' must name at least one object") }
            // Only analyses of this worksheet the user may see are queued; the others are answered as refused. Only
            // the requested ones are read (with their samples and clients, for visibility and permissions), not the
            // whole layout: the unit of work holds the worksheet's line while it runs.
            let onWorksheet = Set(worksheet.layout.map(\.analysisUID))
            try await reader.load(requested.filter { onWorksheet.contains($0) }, into: &state)
            let uids = requested.filter { onWorksheet.contains($0) && state.isVisible($0, to: user) }
            let refused = requested.filter { !uids.contains($0) }.map {
                ActionItem(uid: $0, success: false, message: "No analysis with uid \($0) on worksheet \(worksheet.id)", guardID: GuardID.exists)
            }
            guard !uids.isEmpty else {
                throw LabActionError(.invalidInput, "Field 'uids': none is an analysis on worksheet \(worksheet.id)")
            }
            // What the user may not do at all is refused now, as without the queue; only the rest is queued.
            let (permitted, forbidden) = Self.splitByPermission(action, uids: uids, user: user, worksheetUID: worksheetUID, state: state)
            guard !permitted.isEmpty else { return ((forbidden + refused, nil, state), []) }
            let queued = try await queue.tasks(for: worksheetUID, name: name)
                .filter { ($0.status == .queued || $0.status == .running) && $0.contextUID == worksheetUID }
            var queuedIn: [String: String] = [:]
            for task in queued { for uid in task.uids where queuedIn[uid] == nil { queuedIn[uid] = task.taskUID } }
            // Analyses another queued or running task names (another action, an assignment) are refused, as the same
            // action without the queue refuses them: a queued unassign behind a queued submit let the submit act on
            // an analysis that had left the worksheet (found by a tryout).
            let busy = try await guardedUIDs(among: permitted.filter { queuedIn[$0] == nil })
            let busyItems = permitted.filter { busy.contains($0) }.map {
                ActionItem(uid: $0, success: false, message: Self.busyReason($0, in: state), guardID: GuardID.queueAnalysis,
                           reviewState: state.object($0)?.workflowState)
            }
            let fresh = permitted.filter { queuedIn[$0] == nil && !busy.contains($0) }
            guard !fresh.isEmpty else {
                if busyItems.isEmpty {
                    throw AlreadyQueuedError(action: action, contextUID: worksheetUID, taskUID: queuedIn[permitted[0]] ?? "")
                }
                let already = permitted.compactMap { uid in
                    queuedIn[uid].map { ActionItem(uid: uid, success: true, message: "already queued (task \($0))") }
                }
                return ((already + busyItems + forbidden + refused, nil, state), [])
            }
            try state.modify(Worksheet.self, worksheetUID) { _ in } // claims the worksheet's version
            let task = Self.task(name, on: worksheet, uids: fresh, settings: settings, username: user.userid, now: now,
                                 unique: false, action: action)
            let items = permitted.filter { !busy.contains($0) }.map { uid in
                queuedIn[uid].map { ActionItem(uid: uid, success: true, message: "already queued (task \($0))") }
                    ?? ActionItem(uid: uid, success: true, message: "queued (task \(task.taskUID))")
            } + busyItems + forbidden + refused
            return ((items, task, state), [task])
        }
        return ActionOutcome(items: items, queuedTask: task, state: state)
    }

    /// Why an action on `uid`, which a queued or running task names, is refused (``LIMSCore/GuardID/queueAnalysis``).
    static func busyReason(_ uid: String, in state: LabState) -> String {
        "queued: \(state.label(uid)) is being processed in background"
    }

    /// `uids` split into those `user`'s permission allows `action` on (in order) and refusals (guard
    /// ``LIMSCore/GuardID/permission``) for the others. Source: issue 13, finding 6.
    static func splitByPermission(_ action: String, uids: [String], user: User, worksheetUID: String,
                                  state: LabState) -> (permitted: [String], forbidden: [ActionItem]) {
        let context = TransitionContext(user: user, worksheetUID: worksheetUID, uids: TimeOrderedUIDGenerator())
        var permitted: [String] = [], forbidden: [ActionItem] = []
        for uid in uids {
            if let refusal = WorkflowEngine.permissionRefusal(action, on: uid, context: context, state: state) {
                forbidden.append(ActionItem(uid: uid, success: false, message: refusal.reason, guardID: refusal.guardID,
                                            reviewState: state.object(uid)?.workflowState))
            } else {
                permitted.append(uid)
            }
        }
        return (permitted, forbidden)
    }

    /// Sets (or clears with nil) an analysis result, as `userID`.
    /// - Throws: ``LabActionError`` not found naming `uid` for an unknown or invisible object, invalid input when it
    ///   is not an analysis, invalid input naming `Result` for a result its service does not take
    ///   (``validateResult(_:service:)``), forbidden without Edit Results, conflict once submitted or while queued.
    /// - Returns: the lab after the change.
    @discardableResult
    public func setResult(userID: String?, uid: String, result: String?) async throws -> LabState {
        let uids = self.uids
        return try await perform { state, reader -> LabState in
            let user = try Self.user(userID, in: state)
            try await reader.load([uid], into: &state)
            guard state.object(uid) != nil, state.isVisible(uid, to: user) else {
                throw LabActionError(.notFound, "Field 'uid': no object with uid '\(uid)'")
            }
            guard let analysis = state.analysisRecord(uid) else {
                throw LabActionError(.invalidInput, "Field 'uid': '\(uid)' is not an analysis; only results can be updated")
            }
            try Self.validateResult(result, service: state.analysisServices[analysis.serviceUID])
            if try await guardedUIDs(among: [uid]).contains(uid) {
                throw LabActionError(.conflict, "Field 'uid': \(state.label(uid)) is being processed in background")
            }
            do {
                try state.setResult(result, on: uid, context: TransitionContext(user: user, uids: uids))
            } catch let error as LabError {
                throw LabActionError(error, field: "Result")
            }
            return state
        }
    }
}
