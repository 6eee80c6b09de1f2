import Foundation

/// A task of the queue: one unit of work on one context (a worksheet, a client, ...), processed by a consumer
/// acting as ``username``.
///
/// The fields and their JSON keys are senaite.queue's task dict (reference 1.1): `task_uid`, `name`,
/// `context_uid`, `context_path`, `uids`, `created` (epoch float seconds), `status`, `error_message`,
/// `min_seconds`, `max_seconds`, `priority`, `retries`, `unique`, `chunk_size`, `username`, and the optional
/// `delay` (seconds), `ghost`, `action`, `slots`, `top_uid`, `started` (epoch seconds) and `consumer_id`.
/// `lease_token` is this project's extension: set by each claim, matched by done/fail/timeout.
/// Keys it does not model are kept verbatim in ``extra``.
///
/// Invariant: `started`, `consumerID` and `leaseToken` are non-nil exactly while ``status`` is `running`.
public struct QueueTask: Sendable, Equatable {
    /// 32 lowercase hex characters; equality of tasks is equality of uids.
    public var taskUID: String
    /// Task kind, e.g. `task_assign_analyses`; selects the consumer's handler.
    public var name: String
    /// UID of the object the task acts on.
    public var contextUID: String
    /// Physical path of the context, e.g. `/senaite/worksheets/WS-0001`.
    public var contextPath: String
    /// UIDs of the objects to process (analyses, ...). Default: empty.
    public var uids: [String]
    /// Creation time, epoch seconds. Kept by continuations; set to now by a retry.
    public var created: Double
    /// nil until added to a queue.
    public var status: TaskStatus?
    /// Last error, kept across retries; nil when none.
    public var errorMessage: String?
    /// Minimum seconds the consumer books for the task. Default: setting `min_seconds_task` (3).
    public var minSeconds: Int
    /// Lease length in seconds: a running task whose `started + max_seconds` has passed is timed out.
    /// Grows by half on each timeout. Default: setting `max_seconds_unlock` (120).
    public var maxSeconds: Int
    /// Lower is more urgent. Default: 10 (security re-index tasks: 50).
    public var priority: Int
    /// Retries left. Default: setting `max_retries` (3); 0 means the next failure is final.
    public var retries: Int
    /// If true, `add` ignores it while a queued task of the same name and context exists.
    public var unique: Bool
    /// Objects processed per run; halved on every failure. Default: setting `default` (10).
    public var chunkSize: Int
    /// User id the task is processed as.
    public var username: String
    /// Seconds after `created` before the task may be claimed; nil means 0.
    public var delay: Double?
    /// Ghost tasks are hidden from listings unless asked for.
    public var ghost: Bool
    /// Workflow transition of generic action tasks.
    public var action: String?
    /// Worksheet slots paired with `uids` (integers or ""), for `task_assign_analyses`.
    public var slots: [JSONValue]?
    /// Top object of a security re-index walk.
    public var topUID: String?
    /// Claim time, epoch seconds; set while running.
    public var started: Double?
    /// Consumer holding the task; set while running.
    public var consumerID: String?
    /// Fresh random token of the current claim; set while running.
    public var leaseToken: String?
    /// Keys not modelled above, kept verbatim.
    public var extra: [String: JSONValue]

    /// Creates a task with senaite.queue's defaults (reference 1.1).
    public init(
        taskUID: String = TaskUID.makeTimeOrdered(),
        name: String,
        contextUID: String,
        contextPath: String,
        uids: [String] = [],
        created: Double,
        status: TaskStatus? = nil,
        errorMessage: String? = nil,
        minSeconds: Int = 3,
        maxSeconds: Int = 120,
        priority: Int = 10,
        retries: Int = 3,
        unique: Bool = false,
        chunkSize: Int = 10,
        username: String,
        delay: Double? = nil,
        ghost: Bool = false,
        action: String? = nil,
        slots: [JSONValue]? = nil,
        topUID: String? = nil,
        started: Double? = nil,
        consumerID: String? = nil,
        leaseToken: String? = nil,
        extra: [String: JSONValue] = [:]
    ) {
        self.taskUID = taskUID
        self.name = name
        self.contextUID = contextUID
        self.contextPath = contextPath
        self.uids = uids
        self.created = created
        self.status = status
        self.errorMessage = errorMessage
        self.minSeconds = minSeconds
        self.maxSeconds = maxSeconds
        self.priority = priority
        self.retries = retries
        self.unique = unique
        self.chunkSize = chunkSize
        self.username = username
        self.delay = delay
        self.ghost = ghost
        self.action = action
        self.slots = slots
        self.topUID = topUID
        self.started = started
        self.consumerID = consumerID
        self.leaseToken = leaseToken
        self.extra = extra
    }

    /// First 9 characters of the uid, as the monitor shows it.
    public var shortUID: String { String(taskUID.prefix(9)) }

    /// Epoch seconds from which the task may be claimed: `created + delay`.
    public var availableAt: Double { created + (delay ?? 0) }

    /// The context's serialization key: the 3rd segment of `context_path`
    /// (`/senaite/worksheets/WS-001` gives `WS-001`, `/senaite/clients/client-1/W-0001` gives `client-1`);
    /// paths of two segments or fewer give "" and never collide.
    /// Source: senaite.queue server pop, reference 1.2 step 4.
    public var pathKey: String {
        // The third "/"-separated segment, a leading "/" ignored (as splitting the path, dropping a leading empty
        // segment and taking segments[2]), found without building the segments: every claim and add reads it.
        var rest = Substring(contextPath)
        if rest.first == "/" { rest = rest.dropFirst() }
        for _ in 0..<2 {
            guard let separator = rest.firstIndex(of: "/") else { return "" }
            rest = rest[rest.index(after: separator)...]
        }
        return String(rest[..<(rest.firstIndex(of: "/") ?? rest.endIndex)])
    }

    /// A copy for a continuation or split: every property kept but uid, status, error and claim fields;
    /// `created` is kept so that continuations stay in order.
    /// Source: senaite.queue `new_task`/`add_copy` (reference 1.1, 1.13; bug reports #16/#18).
    public func continuation(uids: [String], slots: [JSONValue]? = nil) -> QueueTask {
        var copy = self
        copy.taskUID = TaskUID.makeTimeOrdered()
        copy.status = nil
        copy.errorMessage = nil
        copy.started = nil
        copy.consumerID = nil
        copy.leaseToken = nil
        copy.uids = uids
        copy.slots = slots
        copy.unique = false
        return copy
    }
}
