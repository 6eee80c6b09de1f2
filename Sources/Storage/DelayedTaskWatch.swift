import Synchronization

/// When a queue store's next claim must first promote delayed tasks that came due
/// (``SQLQueueStore/promoteDueTasks(now:on:)``): at the earliest time a delayed task this process knows of comes due,
/// and at least once every ``interval`` seconds, for delayed tasks it cannot know of (added by another server, or
/// through a path that did not note them). Times are epoch seconds of the claims' own clock.
///
/// The claims walk only promoted tasks (``AddReadyTaskIndex``); a delayed task that came due but is not promoted
/// is not claimed. A task this process adds, fails, requeues or times out is noted here, so on one server a delayed
/// task is claimable from the moment it is due, as before; one that another server added is claimable within
/// ``interval`` seconds of being due, or as soon as a long-poll here asks when the next one comes due
/// (``SQLQueueStore/nextAvailableAt(after:)`` notes the answer).
final class DelayedTaskWatch: Sendable {
    /// Seconds between promotions, at most, while claims run. Default: 1.
    let interval: Double
    /// The time from which the next claim promotes (`-infinity`: at the next claim), and a count of the notes made,
    /// by which a promotion tells whether one came while it ran.
    private let state = Mutex((promoteAt: -Double.infinity, notes: 0))

    init(interval: Double = 1) {
        self.interval = interval
    }

    /// Whether a claim at `now` promotes first: the notes counted so far, to give back to
    /// ``promoted(since:now:next:)``; nil when it need not. One step ahead of `now` (`now.nextUp`), as the promotion
    /// itself: a task created ahead of the server's clock is written due one step after its `created`
    /// (``SQLQueueStore/readyAvailableAt(of:now:)``) and is claimable from its `created`.
    func promotion(now: Double) -> Int? {
        state.withLock { now.nextUp >= $0.promoteAt ? $0.notes : nil }
    }

    /// A queued task may come due at `availableAt` without being promoted: the first claim from then promotes.
    func note(availableAt: Double) {
        state.withLock {
            $0.promoteAt = min($0.promoteAt, availableAt)
            $0.notes += 1
        }
    }

    /// Tasks may have changed in ways not noted: the next claim promotes.
    func invalidate() {
        note(availableAt: -.infinity)
    }

    /// A claim at `now` promoted every delayed task due (``promotion(now:)`` gave `notes`); `next` is when the next
    /// one comes due (nil: none waits). A note made while it ran is kept (its task may not have been seen).
    func promoted(since notes: Int, now: Double, next: Double?) {
        let at = min(next ?? .infinity, now + interval)
        state.withLock { $0.promoteAt = $0.notes == notes ? at : min($0.promoteAt, at) }
    }
}
