import NIOCore

/// A Swift task executor that runs its jobs on one NIO event loop's thread. The single writer runs its drain there
/// (``DatabaseWriter``) when its connection blocks the calling thread (an ``InlineSQLite`` connection): SQLite's
/// page I/O, fsyncs and lock waits then hold that thread only, never a thread of the cooperative pool that serves
/// HTTP requests. The loop should have nothing else to do.
public final class EventLoopTaskExecutor: TaskExecutor, Sendable {
    let eventLoop: any EventLoop

    /// - Parameter eventLoop: the loop whose thread runs the jobs.
    public init(eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        eventLoop.execute {
            job.runSynchronously(on: self.asUnownedTaskExecutor())
        }
    }
}
