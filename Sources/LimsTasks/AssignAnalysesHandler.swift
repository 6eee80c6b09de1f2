import Consumer
import Foundation
import LabActions
import LIMSCore
import QueueCore

/// `task_assign_analyses`: assigns analyses to the task's worksheet, a chunk per run, acting as the user who
/// queued it; the rest is queued as a continuation (with its slots) in the same transaction.
///
/// Source: senaite.queue assign adapter, reference 1.13, with reference 4:
/// - `slots` are integers or "" and are padded with "" to the uids; pairs are sorted by slot (numbered first);
/// - invalid, duplicate, already-assigned and deleted uids are dropped (deleted ones are skipped, not retried);
/// - each analysis goes to its sample's slot, else its slot, else the first free one (`LabState.addAnalysis`);
/// - once assigned, the template's duplicates, blanks and controls whose source slots are now filled are added,
///   also when those slots were filled by this queued assignment;
/// - a user who may not manage the worksheet fails the task with a message saying so;
/// - a task none of whose analyses could be assigned (all refused by guards, for example taken by another
///   worksheet meanwhile) fails for good with the guards' messages, instead of ending done with nothing done.
public struct AssignAnalysesHandler: TaskHandler {
    public var name: String { LimsTaskKind.assignAnalyses }
    let repository: any LabRepository
    let clock: any WallClock
    let chunkSetting: ChunkSizeSetting

    /// - Parameters:
    ///   - repository: the lab.
    ///   - clock: wall clock for assignment times.
    ///   - chunkSetting: the queue's chunk size setting (a lower setting, or 0, takes effect on queued work).
    ///     Default: the task's own chunk size only.
    public init(repository: any LabRepository, clock: any WallClock = SystemWallClock(), chunkSetting: ChunkSizeSetting = .taskOnly) {
        self.repository = repository
        self.clock = clock
        self.chunkSetting = chunkSetting
    }

    /// The task's (uid, slot) pairs after senaite.queue's normalisation: slots read as Int or nil, padded,
    /// sorted (numbered slots first, ascending, stable), invalid uids and repeated uids dropped.
    public static func pairs(of task: QueueTask) -> [(uid: String, slot: Int?)] {
        let slots = task.slots ?? []
        var pairs: [(uid: String, slot: Int?, index: Int)] = []
        for (index, uid) in task.uids.enumerated() {
            let raw = index < slots.count ? slots[index] : .string("")
            let slot = raw.intValue ?? raw.stringValue.flatMap { Int($0.trimmingCharacters(in: .whitespaces)) }
            pairs.append((uid.lowercased(), slot.flatMap { $0 > 0 ? $0 : nil }, index))
        }
        pairs.sort { lhs, rhs in
            switch (lhs.slot, rhs.slot) {
            case let (l?, r?): return l != r ? l < r : lhs.index < rhs.index
            case (.some, nil): return true
            case (nil, .some): return false
            case (nil, nil): return lhs.index < rhs.index
            }
        }
        var seen: Set<String> = []
        return pairs.filter { TaskUID.isValid($0.uid) && seen.insert($0.uid).inserted }.map { ($0.uid, $0.slot) }
    }

    public func process(_ task: QueueTask, context: TaskContext) async throws {
        let now = clock.now()
        let chunkSize = try await chunkSetting.chunkSize(for: task)
        let assigned = try await repository.perform(enqueuing: { state, reader -> (Int, [QueueTask]) in
            let user = try TaskUser.actingUser(of: task, in: state)
            try await reader.loadClosure(of: [task.contextUID], into: &state)
            guard let worksheet = state.worksheets[task.contextUID] else { return (0, []) } // deleted: nothing to do
            let onWorksheet = Set(worksheet.layout.map(\.analysisUID))
            let pairs = Self.pairs(of: task)
            try await reader.load(pairs.map(\.uid), into: &state)
            let pending = pairs.filter { state.analysisRecord($0.uid) != nil && !onWorksheet.contains($0.uid) }
            let (chunk, rest) = taskChunks(pending, size: chunkSize)
            try await reader.loadClosure(of: chunk.map(\.uid), into: &state)
            let transitionContext = TransitionContext(user: user, worksheetUID: worksheet.uid, insideQueuedTask: true,
                                                      uids: TimeOrderedUIDGenerator())
            var done = 0
            var refusals: [String] = []
            for (uid, slot) in chunk {
                do {
                    _ = try state.addAnalysis(uid, to: worksheet.uid, slot: slot, context: transitionContext, now: now)
                    done += 1
                } catch let error as LabError where error.guardID == GuardID.permission {
                    throw TaskProcessingError("\(task.username) may not assign \(state.label(uid)) to \(worksheet.id): \(error.message)")
                } catch let error as LabError {
                    refusals.append(error.message) // refused by a guard (already on a worksheet, ...): skipped, as SENAITE
                }
            }
            if done == 0, !refusals.isEmpty, rest.isEmpty {
                // Nothing of the whole task could be assigned: it fails, saying why, instead of ending done with
                // an empty worksheet. A retry cannot help.
                let shown = refusals.prefix(3).joined(separator: "; ")
                let more = refusals.count > 3 ? " (and \(refusals.count - 3) more)" : ""
                throw TaskProcessingError("No analysis could be assigned to \(worksheet.id): \(shown)\(more)", permanent: true)
            }
            if !refusals.isEmpty {
                context.logger.notice("analyses skipped", metadata: [
                    "lims.count": .stringConvertible(refusals.count), "lims.reason": .string(refusals[0]),
                ])
            }
            if worksheet.templateUID != nil {
                _ = try state.addTemplateDuplicatesAndReferences(to: worksheet.uid, context: transitionContext, now: now)
            }
            let continuation = rest.isEmpty ? [] : [task.continuation(uids: rest.map(\.uid),
                                                                       slots: rest.map { $0.slot.map(JSONValue.int) ?? .string("") })]
            return (done, continuation)
        })
        context.logger.debug("analyses assigned", metadata: ["lims.count": .stringConvertible(assigned)])
    }
}
