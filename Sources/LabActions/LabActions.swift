import Foundation
import LIMSCore
import QueueCore

/// The lab's user actions (worksheet creation and template application, analysis assignment, workflow actions,
/// result entry, linking a contact to a user), shared by the JSON API and the web pages.
///
/// Each action is one unit of work on the ``LIMSCore/LabRepository``. While the queue is ready (chunk size > 0,
/// reference 0) the heavy part becomes a task, written in the same transaction as the action, and the caller is
/// answered at once with it; while it is resuming or disabled the action runs synchronously, as SENAITE does
/// without senaite.queue. Objects in queued tasks are guarded (reference 1.11).
///
/// Errors: ``LabActionError`` (what kind of refusal, and a message naming the field; no HTTP status: the adapters
/// map it); ``AlreadyQueuedError`` when the same action is already queued for the object (reference 4).
public struct LabActions: Sendable {
    /// The lab.
    public let repository: any LabRepository
    /// The queue (nil: everything runs synchronously and nothing is guarded).
    public let queue: (any QueueStore)?
    /// Wall clock for creation and transition times.
    public let clock: any WallClock
    /// Generator of new object uids.
    public let uids: any UIDGenerator
    /// Hashes a new user's password (bcrypt in the adapters, off the caller's executor: tens of milliseconds).
    public let passwordHasher: @Sendable (String) async -> String
    /// The line the units of work on one worksheet wait in, in this process (``KeyedSerializer``).
    public let worksheetLine: KeyedSerializer

    /// - Parameters:
    ///   - repository: the lab.
    ///   - queue: the queue the actions enqueue to and whose guards they honour; nil for none.
    ///   - clock: wall clock. Default: the system clock.
    ///   - uids: uid generator. Default: ``LIMSCore/TimeOrderedUIDGenerator``.
    ///   - passwordHasher: hashes passwords of users the actions create (the stored ``LIMSCore/User/passwordHash``).
    public init(repository: any LabRepository, queue: (any QueueStore)?, clock: any WallClock = SystemWallClock(),
                uids: any UIDGenerator = TimeOrderedUIDGenerator(), passwordHasher: @escaping @Sendable (String) async -> String) {
        self.repository = repository
        self.queue = queue
        self.clock = clock
        self.uids = uids
        self.passwordHasher = passwordHasher
        self.worksheetLine = KeyedSerializer()
    }

    /// The signed-in user of a unit of work. - Throws: ``LabActionError`` `unauthenticated` when there is none.
    public static func user(_ userID: String?, in state: LabState) throws -> User {
        guard let userID, let user = state.user(named: userID) else {
            throw LabActionError(.unauthenticated, "Authentication required")
        }
        return user
    }

    /// The worksheet `uid` when `user` may see it. - Throws: ``LabActionError`` `notFound` naming `field`.
    public static func worksheet(_ uid: String, field: String, user: User, in state: LabState) throws -> Worksheet {
        guard let worksheet = state.worksheets[uid], state.isVisible(uid, to: user) else {
            throw LabActionError(.notFound, "Field '\(field)': no worksheet with uid '\(uid)'")
        }
        return worksheet
    }

    /// The queue's status (reference 0): `disabled` without a queue.
    public func queueStatus() async throws -> QueueStatus {
        guard let queue else { return .disabled }
        let chunkSize = try await queue.settings().chunkSize
        if chunkSize > 0 { return .ready }
        let counts = try await queue.counts(ghosts: true)
        let active = counts[.queued, default: 0] + counts[.running, default: 0]
        return QueueStatus(chunkSize: chunkSize, activeTasks: active)
    }

    /// Uids of the objects in queued or running tasks (contexts and `uids`): what listings show as queued.
    /// Empty when the queue is disabled. Source: senaite.queue `is_queued`, reference 0.
    public func queuedObjectUIDs() async throws -> Set<String> {
        guard let queue else { return [] }
        return try await queue.objectUIDs(status: [.queued, .running])
    }


    /// Those of `uids` the guards veto users' transitions for: objects of queued and running tasks (reference
    /// 1.11). Unlike senaite.queue, running tasks count too: a consumer claims a task's continuation as it reports
    /// the chunk before, so the rest of the work is "running" while it waits; the consumer itself is never blocked,
    /// as its units of work act inside the task (reference 5.1). Empty without a queue.
    ///
    /// Asked for the objects a unit of work holds, never for the whole queue: the cost follows the working set,
    /// not the number of queued tasks.
    func guardedUIDs(among uids: [String]) async throws -> Set<String> {
        guard let queue, !uids.isEmpty else { return [] }
        return try await queue.objectUIDs(status: [.queued, .running], among: uids)
    }

    /// ``guardedUIDs(among:)`` for every object `state` holds that a task can name (samples, analyses, worksheets,
    /// clients, contacts): what the guards of the unit of work look up.
    func guardedUIDs(in state: LabState) async throws -> Set<String> {
        try await guardedUIDs(among: state.loadedObjects.filter { Self.taskObjectTypes.contains(type(of: $0).portalType) }.map(\.uid))
    }

    /// The types of objects a task can have as its context or among its `uids`.
    static let taskObjectTypes: Set<PortalType> = [
        .sample, .analysis, .duplicateAnalysis, .referenceAnalysis, .worksheet, .client, .contact,
    ]

    /// The settings the queued tasks are made with; nil when the queue is not ready (actions then run now).
    func readySettings() async throws -> QueueSettings? {
        guard let queue else { return nil }
        let settings = try await queue.settings()
        return settings.chunkSize > 0 ? settings : nil
    }

    /// Runs a unit of work, mapping a conflict that outlived the retries to ``LabActionError`` `conflict` and a lab
    /// rule error to ``LabActionError``.
    public func perform<T: Sendable>(_ body: @Sendable (inout LabState, any LabReader) async throws -> T) async throws -> T {
        try await perform(serializedOn: nil, body)
    }

    /// ``perform(_:)``, one at a time in this process with every other unit of work on `key` (a worksheet's uid;
    /// ``worksheetLine``) when given.
    func perform<T: Sendable>(serializedOn key: String?,
                              _ body: @Sendable (inout LabState, any LabReader) async throws -> T) async throws -> T {
        do {
            return try await worksheetLine.run(ifAny: key) { try await repository.perform(body) }
        } catch let error as LabRepositoryError {
            throw LabActionError(.conflict, error.description)
        } catch let error as LabError {
            throw LabActionError(error, field: nil)
        }
    }

    /// Runs a unit of work that enqueues tasks; a unique task meeting its queued twin → ``AlreadyQueuedError``.
    /// Units of work on one existing context (a worksheet; `contextUID` not empty) run one at a time in this process
    /// (``worksheetLine``).
    func performEnqueuing<T: Sendable>(action: String, contextUID: String,
                                       _ body: @Sendable (inout LabState, any LabReader) async throws -> (T, [QueueTask])) async throws -> T {
        do {
            return try await worksheetLine.run(ifAny: contextUID) { try await repository.perform(enqueuing: body) }
        } catch let error as LabRepositoryError where error.code == .alreadyQueued {
            throw AlreadyQueuedError(action: action, contextUID: contextUID, taskUID: error.uids.first ?? "")
        } catch let error as LabRepositoryError {
            throw LabActionError(.conflict, error.description)
        } catch let error as LabError {
            throw LabActionError(error, field: nil)
        }
    }

    /// A queued task made with the queue's settings, acting as `username`.
    static func task(_ name: String, on context: any LabObject, uids: [String], settings: QueueSettings, username: String,
                     now: Double, unique: Bool, action: String? = nil, slots: [JSONValue]? = nil, delay: Double = 0) -> QueueTask {
        var task = QueueTask(name: name, contextUID: context.uid, contextPath: context.path, uids: uids, created: now,
                             minSeconds: settings.minSeconds, maxSeconds: settings.maxSeconds, retries: settings.maxRetries,
                             unique: unique, chunkSize: settings.chunkSize, username: username, action: action)
        task.slots = slots
        task.delay = delay > 0 ? delay : nil
        return task
    }
}

/// The same action is already queued for the object: the request is refused (HTTP 409) with the queued task's
/// uid, never silently dropped. Source: reference 4.
public struct AlreadyQueuedError: Error, Sendable, CustomStringConvertible {
    /// The action asked for (`submit`, `assign`, ...).
    public let action: String
    /// The object (worksheet) the action is for.
    public let contextUID: String
    /// The queued task that already does it.
    public let taskUID: String

    public var description: String { "\(action) is already queued for this \(action == "link_user" ? "contact" : "worksheet") (task \(taskUID))" }
}

/// One object's result of an action: done, queued, or refused with the guard that refused.
public struct ActionItem: Sendable, Equatable {
    /// The object.
    public let uid: String
    /// True when done (or queued).
    public let success: Bool
    /// What happened, in lab words.
    public let message: String
    /// The guard that refused, for a refusal.
    public let guardID: String?
    /// The object's review state after the action (nil when unknown).
    public let reviewState: String?

    public init(uid: String, success: Bool, message: String, guardID: String? = nil, reviewState: String? = nil) {
        self.uid = uid
        self.success = success
        self.message = message
        self.guardID = guardID
        self.reviewState = reviewState
    }
}

/// What an action did: per-object items, and the task when it was queued.
public struct ActionOutcome: Sendable {
    /// One item per requested object, in request order (empty when queued: the task's `uids` say what).
    public let items: [ActionItem]
    /// The task created when the action was queued.
    public let queuedTask: QueueTask?
    /// The lab after the action.
    public let state: LabState

    /// True when every item succeeded (a queued action succeeds).
    public var success: Bool { items.allSatisfy(\.success) }
}

/// What a worksheet creation or template application did.
public struct WorksheetOutcome: Sendable {
    /// The worksheet.
    public let worksheetUID: String
    /// What was applied synchronously (duplicates, blanks and controls; routine analyses when not queued).
    public let application: TemplateApplication?
    /// The `task_assign_analyses` queued for the routine analyses, when queued.
    public let queuedTask: QueueTask?
    /// The lab after the action.
    public let state: LabState
}
