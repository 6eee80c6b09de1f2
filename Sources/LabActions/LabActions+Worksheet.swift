import Foundation
import LIMSCore
import QueueCore

/// Worksheet actions: create (optionally from a template), apply a template, add analyses.
///
/// Source: senaite.core `worksheet_add`, `Worksheet.addAnalyses`, `applyWorksheetTemplate` (reference 3.3-3.5)
/// and senaite.queue's hooks on them (reference 1.12).
extension LabActions {
    /// Seconds a template's queued assignment waits before it may be claimed (senaite.queue: `delay=5`).
    public static let templateAssignmentDelay: Double = 5

    /// 403 unless `user` may manage worksheets (Manage Worksheets; only lab managers when the lab restricts
    /// worksheet management).
    static func requireWorksheetManagement(_ user: User, state: LabState) throws {
        guard state.mayManageWorksheets(user) else { throw LabActionError(.forbidden, "\(user.userid) may not manage worksheets") }
    }

    /// Creates a worksheet for `analyst` (a user with role Analyst or LabManager), optionally on an instrument,
    /// and applies `templateUID` to it (``applyTemplate(userID:worksheetUID:templateUID:)``'s rules), in one
    /// unit of work.
    /// - Throws: ``LabActionError`` 400 naming `analyst`, `template` or `instrument`; 403 when the user
    ///   may not manage worksheets; ``AlreadyQueuedError`` cannot happen for a new worksheet.
    public func createWorksheet(userID: String?, analyst: String, templateUID: String?, instrumentUID: String?) async throws -> WorksheetOutcome {
        let now = clock.now(), uids = self.uids
        let settings = try await readySettings()
        let (uid, application, task, state) = try await templateSelection(templateUID != nil) { try await performEnqueuing(action: "assign", contextUID: "") {
            state, reader -> ((String, TemplateApplication?, QueueTask?, LabState), [QueueTask]) in
            let user = try Self.user(userID, in: state)
            try Self.requireWorksheetManagement(user, state: state)
            guard !analyst.isEmpty else { throw LabActionError(.invalidInput, "Field 'analyst': Analyst must be specified.") }
            guard let analystUser = state.user(named: analyst),
                  !analystUser.roles.isDisjoint(with: [.analyst, .labManager, .manager])
            else { throw LabActionError(.invalidInput, "Field 'analyst': '\(analyst)' is not a user with role Analyst or LabManager") }
            if let templateUID, state.worksheetTemplates[templateUID] == nil {
                throw LabActionError(.invalidInput, "Field 'template': no worksheet template with uid '\(templateUID)'")
            }
            if let instrumentUID, state.instruments[instrumentUID] == nil {
                throw LabActionError(.invalidInput, "Field 'instrument': no instrument with uid '\(instrumentUID)'")
            }
            try await reader.reserve(LabState.counterKey(.worksheet), count: 1, into: &state)
            let worksheet: Worksheet
            do {
                worksheet = try state.createWorksheet(analyst: analystUser.userid, instrumentUID: instrumentUID, uids: uids, now: now)
            } catch let error as LabError {
                throw LabActionError(error, field: "analyst")
            }
            guard let templateUID else { return ((worksheet.uid, nil, nil, state), []) }
            // While the queue is ready a template selection leaves out what is queued (reference 4).
            try await reader.loadTemplateCandidates(templateUID, for: worksheet.uid, excludingQueued: settings != nil, into: &state)
            let guarded = try await guardedUIDs(in: state)
            let excluded = settings != nil ? guarded : []
            let context = TransitionContext(user: user, worksheetUID: worksheet.uid, queuedUIDs: guarded, uids: uids)
            let (application, task) = try Self.applyTemplate(templateUID, to: worksheet.uid, user: user, context: context,
                                                             settings: settings, excluding: excluded, state: &state, now: now)
            return ((worksheet.uid, application, task, state), task.map { [$0] } ?? [])
        } }
        return WorksheetOutcome(worksheetUID: uid, application: application, queuedTask: task, state: state)
    }

    /// Applies a worksheet template to a worksheet. While the queue is ready the routine part becomes one
    /// `task_assign_analyses` with `uids` and `slots` (unique, 5 s delay; analyses already queued are left out)
    /// and the duplicates, blanks and controls that can be added now are added at once (duplicates of slots the
    /// queued assignment fills follow when it runs, reference 4); else everything runs now.
    /// - Throws: ``LabActionError`` 404 naming `worksheet_uid`/`template_uid`, 403/409 from the
    ///   worksheet's guards; ``AlreadyQueuedError`` while an assignment for this worksheet is still queued.
    public func applyTemplate(userID: String?, worksheetUID: String, templateUID: String) async throws -> WorksheetOutcome {
        let now = clock.now(), uids = self.uids
        let settings = try await readySettings()
        if settings != nil, let queue,
           let queued = try await queue.tasks(for: worksheetUID, name: LimsTaskKind.assignAnalyses)
            .first(where: { $0.status == .queued && $0.contextUID == worksheetUID && $0.unique }) {
            // Its analyses are left out of a new selection, so the insert-time check would not see the repeat.
            throw AlreadyQueuedError(action: "apply_template", contextUID: worksheetUID, taskUID: queued.taskUID)
        }
        let (application, task, state) = try await templateSelection(true) { try await performEnqueuing(action: "assign", contextUID: worksheetUID) {
            state, reader -> ((TemplateApplication, QueueTask?, LabState), [QueueTask]) in
            let user = try Self.user(userID, in: state)
            try await reader.loadClosure(of: [worksheetUID], into: &state)
            _ = try Self.worksheet(worksheetUID, field: "worksheet_uid", user: user, in: state)
            if state.worksheetTemplates[templateUID] != nil {
                try await reader.loadTemplateCandidates(templateUID, for: worksheetUID, excludingQueued: settings != nil, into: &state)
            }
            let guarded = try await guardedUIDs(in: state)
            let excluded = settings != nil ? guarded : []
            guard state.worksheetTemplates[templateUID] != nil else {
                throw LabActionError(.notFound, "Field 'template_uid': no worksheet template with uid '\(templateUID)'")
            }
            let context = TransitionContext(user: user, worksheetUID: worksheetUID, queuedUIDs: guarded, uids: uids)
            let (application, task) = try Self.applyTemplate(templateUID, to: worksheetUID, user: user, context: context,
                                                             settings: settings, excluding: excluded, state: &state, now: now)
            return ((application, task, state), task.map { [$0] } ?? [])
        } }
        return WorksheetOutcome(worksheetUID: worksheetUID, application: application, queuedTask: task, state: state)
    }

    /// Runs `body` (a unit of work that selects analyses for a template) after every other template selection of
    /// this process, when `selecting`: each selection then sees the analyses the ones before it queued, and leaves
    /// them out. Two worksheets created from a template at the same moment had queued the same analyses, and all
    /// but one ended without routine analyses (found by a fresh user). Taken before a worksheet's own line, never
    /// inside it. Between processes two selections can still overlap; the later assignment then skips what is
    /// taken.
    func templateSelection<T: Sendable>(_ selecting: Bool, _ body: () async throws -> T) async throws -> T {
        try await worksheetLine.run(ifAny: selecting ? "template-selection" : nil, body)
    }

    /// The template application rule shared by creation and application: synchronous without `settings`, else
    /// the routine selection as one queued `task_assign_analyses` plus the references and duplicates possible now.
    static func applyTemplate(_ templateUID: String, to worksheetUID: String, user: User, context: TransitionContext,
                              settings: QueueSettings?, excluding: Set<String>, state: inout LabState,
                              now: Double) throws -> (TemplateApplication, QueueTask?) {
        do {
            guard let settings else {
                return (try state.applyWorksheetTemplate(templateUID, to: worksheetUID, context: context, now: now), nil)
            }
            try state.setWorksheetTemplate(templateUID, on: worksheetUID, context: context)
            let selection = try state.templateRoutineSelection(templateUID, for: worksheetUID, excluding: excluding)
            // Claimed: a selection in another process at the same moment conflicts and is made again.
            for item in selection { try state.claim(item.analysisUID) }
            let extras = try state.addTemplateDuplicatesAndReferences(to: worksheetUID, context: context, now: now)
            guard !selection.isEmpty, let worksheet = state.worksheets[worksheetUID] else { return (extras, nil) }
            let task = Self.task(LimsTaskKind.assignAnalyses, on: worksheet, uids: selection.map(\.analysisUID), settings: settings,
                            username: user.userid, now: now, unique: true, slots: selection.map { .int($0.slot) },
                            delay: templateAssignmentDelay)
            return (extras, task)
        } catch let error as LabError {
            throw LabActionError(error, field: "template")
        }
    }

    /// Adds analyses to a worksheet, in order (`slots`, when given, one preferred position per uid). While the
    /// queue is ready the routine analyses become one `task_assign_analyses` (not unique, no delay) and the answer
    /// comes at once; reference analyses and everything while the queue is not ready are added now.
    /// Every analysis is tried; refusals name their guard. A queued analysis is checked against the same guards
    /// first (one already on a worksheet, or in another queued assignment, is refused here rather than skipped by
    /// the task later) and claimed (``LIMSCore/LabState/claim(_:)``): two concurrent requests cannot both queue it.
    /// - Throws: ``LabActionError`` 404 naming `worksheet_uid`; 400 when `slots` does not pair with `uids`.
    public func addAnalyses(userID: String?, worksheetUID: String, analysisUIDs: [String], slots: [Int]?) async throws -> ActionOutcome {
        if let slots {
            guard slots.count == analysisUIDs.count else {
                throw LabActionError(.invalidInput, "Field 'slots' must have one position per uid (\(analysisUIDs.count))")
            }
            guard slots.allSatisfy({ $0 >= 1 }) else { throw LabActionError(.invalidInput, "Field 'slots': positions start at 1") }
        }
        let now = clock.now(), uids = self.uids
        let settings = try await readySettings()
        let (items, task, state) = try await performEnqueuing(action: "assign", contextUID: worksheetUID) {
            state, reader -> (([ActionItem], QueueTask?, LabState), [QueueTask]) in
            let user = try Self.user(userID, in: state)
            try await reader.loadClosure(of: [worksheetUID] + analysisUIDs, into: &state)
            let guarded = try await guardedUIDs(in: state)
            let worksheet = try Self.worksheet(worksheetUID, field: "worksheet_uid", user: user, in: state)
            if settings != nil { try Self.requireWorksheetManagement(user, state: state) }
            let context = TransitionContext(user: user, worksheetUID: worksheetUID, queuedUIDs: guarded, uids: uids)
            var items: [ActionItem] = []
            var queued: [(uid: String, slot: Int?)] = []
            for (index, uid) in analysisUIDs.enumerated() {
                let slot = slots?[index]
                guard state.object(uid) != nil, state.isVisible(uid, to: user) else {
                    items.append(ActionItem(uid: uid, success: false, message: "No analysis with uid \(uid)", guardID: GuardID.exists))
                    continue
                }
                if guarded.contains(uid) {
                    // In a queued or running task (maybe for another worksheet): never added behind its back.
                    items.append(ActionItem(uid: uid, success: false, message: "\(state.label(uid)) is being processed in background",
                                            guardID: GuardID.queueWorksheet, reviewState: state.object(uid)?.workflowState))
                    continue
                }
                do {
                    if settings != nil, state.analyses[uid] != nil {
                        // Queued: refused now when the task could not assign it (already on a worksheet, sample
                        // not received, ...), and claimed, so a concurrent assignment of it elsewhere conflicts.
                        try state.checkAddAnalysis(uid, to: worksheetUID, context: context)
                        guard !queued.contains(where: { $0.uid == uid }) else {
                            items.append(ActionItem(uid: uid, success: false, message: "\(state.label(uid)) is given twice",
                                                    guardID: GuardID.analysisAssign, reviewState: state.object(uid)?.workflowState))
                            continue
                        }
                        try state.claim(uid)
                        queued.append((uid, slot))
                        items.append(ActionItem(uid: uid, success: true, message: "queued", reviewState: state.object(uid)?.workflowState))
                        continue
                    }
                    try state.addAnalysis(uid, to: worksheetUID, slot: slot, context: context, now: now)
                    items.append(ActionItem(uid: uid, success: true, message: "added", reviewState: state.object(uid)?.workflowState))
                } catch let error as LabError {
                    items.append(ActionItem(uid: uid, success: false, message: error.message,
                                            guardID: error.guardID ?? error.code.rawValue, reviewState: state.object(uid)?.workflowState))
                }
            }
            guard let settings, !queued.isEmpty else { return ((items, nil, state), []) }
            let task = Self.task(LimsTaskKind.assignAnalyses, on: worksheet, uids: queued.map(\.uid), settings: settings,
                            username: user.userid, now: now, unique: false,
                            slots: slots == nil ? nil : queued.map { $0.slot.map(JSONValue.int) ?? .string("") })
            return ((items, task, state), [task])
        }
        return ActionOutcome(items: items, queuedTask: task, state: state)
    }
}
