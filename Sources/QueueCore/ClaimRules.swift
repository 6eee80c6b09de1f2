/// The rules of `pop`: which running tasks to expire or purge, and which queued task a consumer may claim.
///
/// Pure functions over snapshots the store reads inside its claim transaction; the store performs what the
/// returned ``Decision`` names. Source: senaite.queue server `pop` and `_purge`, reference 1.2, with the
/// differences of reference 4 (leases expire on every pop; serialization checks name and context together).
public enum ClaimRules {
    /// Seconds after which a task still running for the consumer that pops again is purged.
    /// Source: reference 1.2 pop step 2 (`started + 10 < now`).
    public static let purgeAfterSeconds: Double = 10

    /// What a store needs to know of a running task.
    public struct RunningTask: Sendable, Equatable {
        public var taskUID: String
        public var name: String
        public var pathKey: String
        public var started: Double?
        public var maxSeconds: Int
        public var consumerID: String?

        public init(taskUID: String, name: String, pathKey: String, started: Double?, maxSeconds: Int, consumerID: String?) {
            self.taskUID = taskUID
            self.name = name
            self.pathKey = pathKey
            self.started = started
            self.maxSeconds = maxSeconds
            self.consumerID = consumerID
        }

        public init(_ task: QueueTask) {
            self.init(taskUID: task.taskUID, name: task.name, pathKey: task.pathKey, started: task.started,
                      maxSeconds: task.maxSeconds, consumerID: task.consumerID)
        }

        /// Epoch seconds at which its lease ends: `started + max_seconds`.
        public var leaseExpiresAt: Double { (started ?? 0) + Double(maxSeconds) }
    }

    /// What a store needs to know of a queued candidate, in queue order.
    public struct Candidate: Sendable, Equatable {
        public var taskUID: String
        public var name: String
        public var pathKey: String
        /// `created + delay`, epoch seconds.
        public var availableAt: Double

        public init(taskUID: String, name: String, pathKey: String, availableAt: Double) {
            self.taskUID = taskUID
            self.name = name
            self.pathKey = pathKey
            self.availableAt = availableAt
        }

        public init(_ task: QueueTask) {
            self.init(taskUID: task.taskUID, name: task.name, pathKey: task.pathKey, availableAt: task.availableAt)
        }
    }

    /// The serialization key of a task: no two tasks with the same name and non-empty path key run at once.
    public struct SerialKey: Hashable, Sendable {
        public var name: String
        public var pathKey: String
        public init(name: String, pathKey: String) {
            self.name = name
            self.pathKey = pathKey
        }
    }

    /// Running tasks whose lease has ended (`started + max_seconds < now`): the store times them out.
    public static func expiredLeases(_ running: [RunningTask], now: Double) -> [RunningTask] {
        running.filter { $0.leaseExpiresAt < now }
    }

    /// The outcome of the consumer-side checks of `pop`, before looking at queued tasks.
    public enum Gate: Equatable, Sendable {
        /// The consumer still holds running tasks: fail these (`Purged on pop (<consumer>)`) and answer
        /// nothing this round, whether or not any was purged. Source: reference 1.2 pop step 2.
        case consumerBusy(purge: [String])
        /// `max_consumers` tasks already run: answer nothing. Source: reference 1.2 pop step 3.
        case saturated
        /// The consumer may claim one of the candidates.
        case open
    }

    /// Applies pop steps 2 and 3 to the (already lease-expired) running tasks.
    /// - Parameters:
    ///   - running: every running task after lease expiry.
    ///   - consumerID: the popping consumer.
    ///   - maxConcurrent: setting `max_consumers`.
    ///   - now: epoch seconds.
    public static func gate(running: [RunningTask], consumerID: String, maxConcurrent: Int, now: Double) -> Gate {
        let own = running.filter { $0.consumerID == consumerID }
        if !own.isEmpty {
            let stale = own.filter { task in
                guard let started = task.started else { return true }
                return started + purgeAfterSeconds < now
            }
            return .consumerBusy(purge: stale.map(\.taskUID))
        }
        if running.count >= maxConcurrent { return .saturated }
        return .open
    }

    /// The first candidate, in queue order, that is due (`created + delay <= now`) and whose name and context
    /// path key are not both held by a running task. nil if none.
    /// Source: reference 1.2 pop step 4; the pair check replaces the original's two independent set checks.
    public static func firstClaimable(_ candidates: [Candidate], runningKeys: Set<SerialKey>, now: Double) -> Candidate? {
        candidates.first { candidate in
            guard candidate.availableAt <= now else { return false }
            guard !candidate.pathKey.isEmpty else { return true }
            return !runningKeys.contains(SerialKey(name: candidate.name, pathKey: candidate.pathKey))
        }
    }

    /// The serialization keys held by running tasks.
    public static func serialKeys(of running: [RunningTask]) -> Set<SerialKey> {
        Set(running.filter { !$0.pathKey.isEmpty }.map { SerialKey(name: $0.name, pathKey: $0.pathKey) })
    }
}
