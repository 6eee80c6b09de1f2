import Foundation

/// State changes of a task. Each returns the changed task; stores persist it with a compare-and-set on the
/// previous status (and lease). Source: senaite.queue server utility, reference 1.2, and reference 4.
extension QueueTask {
    /// Seconds a retried task waits before it may be claimed again. Source: reference 1.2 `fail` (`delay=5`).
    public static let retryDelaySeconds: Double = 5

    /// Claimed by `consumerID` at `now` under a fresh `leaseToken`: status running.
    public func claimed(by consumerID: String, leaseToken: String, now: Double) -> QueueTask {
        var task = self
        task.status = .running
        task.started = now
        task.consumerID = consumerID
        task.leaseToken = leaseToken
        return task
    }

    /// Failed with `message`: while retries remain, back to queued with one retry less, `created = now`,
    /// chunk size halved (rounded up; 0 stays 0) and a 5 s delay; else status failed.
    /// Source: reference 1.2 `fail`; `max_retries = 0` means no retry (reference 4).
    /// - Parameter retry: false for a failure that cannot succeed on a retry (e.g. the user may not do it): the
    ///   task fails now whatever retries remain. Default: true.
    public func failed(message: String, now: Double, retry: Bool = true) -> QueueTask {
        var task = self
        task.errorMessage = message
        task.started = nil
        task.consumerID = nil
        task.leaseToken = nil
        if retry, retries > 0 {
            task.retries = retries - 1
            task.created = now
            task.chunkSize = Int((Double(chunkSize) / 2).rounded(.up))
            task.status = .queued
            task.delay = Self.retryDelaySeconds
        } else {
            task.status = .failed
        }
        return task
    }

    /// Timed out: `max_seconds` grows by half (rounded up), then fails with "Timeout".
    /// Example: 120 → 180 → 270 → 405 → 608; never beyond ``maxLeaseSeconds`` (7 days).
    /// Source: reference 1.2 `timeout`.
    public func timedOut(now: Double) -> QueueTask {
        var task = self
        task.maxSeconds = min(Int((Double(min(maxSeconds, Self.maxLeaseSeconds)) * 1.5).rounded(.up)), Self.maxLeaseSeconds)
        return task.failed(message: "Timeout", now: now)
    }

    /// Put back by an operator: status queued, retries reset to `maxRetries`; `created`, `delay` and
    /// `error_message` kept. Works on any status. Source: reference 1.3 `requeue`.
    public func requeued(maxRetries: Int) -> QueueTask {
        var task = released()
        task.retries = maxRetries
        return task
    }

    /// Given back unused (claimed for a client that went away before it got the task): status queued, with no
    /// claim; retries and everything else kept, as if it had never been claimed.
    public func released() -> QueueTask {
        var task = self
        task.status = .queued
        task.started = nil
        task.consumerID = nil
        task.leaseToken = nil
        return task
    }
}
