import Consumer
import Foundation
import LabActions
import LIMSCore
import QueueCore

/// `task_generic_action` and `task_action_{submit,verify,retract,reject,unassign}`: runs a workflow transition on
/// the first chunk of the task's `uids` (the context itself when `uids` is empty), acting as the user who queued
/// it, and queues the rest as a continuation in the same transaction.
///
/// - The transition is the task's `action`, else the name's suffix (`task_action_submit` → `submit`).
/// - Objects deleted meanwhile are skipped, not retried (reference 4).
/// - The queue's guards never block the task's own work (`insideQueuedTask`, reference 5.1).
/// - Nothing runs elevated: when the user may not perform the transition on an object, the task fails for good
///   (not retried) with a message saying so once (reference issue 4.4); other guard refusals are silent, as
///   SENAITE's `doActionFor`. A user who no longer exists or was deactivated fails the task the same way.
/// - The continuation keeps every property but uid, status and error, and the original `created`
///   (reference 1.13, bug reports #14/#16/#18); its chunk size is the task's own.
///
/// Source: senaite.queue `adapters/__init__.py` generic action adapter, reference 1.13.
public struct GenericActionHandler: TaskHandler {
    /// Task names this handler serves.
    public static let names = LimsTaskKind.workflowTaskNames

    public let name: String
    let repository: any LabRepository
    let clock: any WallClock
    let chunkSetting: ChunkSizeSetting

    /// - Parameters:
    ///   - name: one of ``names``.
    ///   - repository: the lab.
    ///   - clock: wall clock for transition times.
    ///   - chunkSetting: the queue's chunk size setting (a lower setting, or 0, takes effect on queued work).
    ///     Default: the task's own chunk size only.
    public init(name: String, repository: any LabRepository, clock: any WallClock = SystemWallClock(),
                chunkSetting: ChunkSizeSetting = .taskOnly) {
        self.name = name
        self.repository = repository
        self.clock = clock
        self.chunkSetting = chunkSetting
    }

    /// The transition a task asks for.
    /// - Throws: ``TaskProcessingError`` when neither `action` nor the name gives one.
    static func action(of task: QueueTask) throws -> String {
        if let action = task.action, !action.isEmpty { return action }
        if task.name.hasPrefix("task_action_") { return String(task.name.dropFirst("task_action_".count)) }
        throw TaskProcessingError("Task \(task.shortUID) (\(task.name)) names no action")
    }

    public func process(_ task: QueueTask, context: TaskContext) async throws {
        let action = try Self.action(of: task)
        let now = clock.now()
        let chunkSize = try await chunkSetting.chunkSize(for: task)
        let processed = try await repository.perform(enqueuing: { state, reader -> (Int, [QueueTask]) in
            let user = try TaskUser.actingUser(of: task, in: state)
            let targets = task.uids.isEmpty ? [task.contextUID] : task.uids
            let (chunk, rest) = taskChunks(targets, size: chunkSize)
            try await reader.loadClosure(of: [task.contextUID] + chunk, into: &state)
            let worksheetUID = state.worksheets[task.contextUID] != nil ? task.contextUID : nil
            let transitionContext = TransitionContext(user: user, worksheetUID: worksheetUID, insideQueuedTask: true,
                                                      uids: TimeOrderedUIDGenerator())
            var done = 0
            for uid in chunk where state.object(uid) != nil {
                switch WorkflowEngine.doTransition(action, on: uid, context: transitionContext, state: &state, now: now) {
                case .done:
                    done += 1
                case .refused(let guardID, let reason) where guardID == GuardID.permission:
                    // The reason names the user, the action and the object once; a retry cannot succeed.
                    throw TaskProcessingError(reason, permanent: true)
                case .refused:
                    continue
                }
            }
            let continuation = rest.isEmpty ? [] : [task.continuation(uids: rest)]
            return (done, continuation)
        })
        context.logger.debug("generic action processed", metadata: ["lims.action": .string(action), "lims.count": .stringConvertible(processed)])
        if processed == 0 {
            // As SENAITE's doActionFor, a refused guard is silent for the task (it ends done); the log says so, so
            // that an operator can tell "nothing to do" from "done" (found by a tryout: a submit queued on a sample
            // context ended done with nothing submitted).
            context.logger.notice("generic action transitioned nothing: every object was refused by a guard or is gone",
                                  metadata: ["lims.action": .string(action), "lims.context": .string(task.contextPath)])
        }
    }
}
