import Hummingbird
import NIOCore
import Synchronization

/// What a long-poll knows of its client's TCP connection: whether the client is gone (it closed its side, or the
/// connection closed), and a way to wait for that.
///
/// Why: a consumer killed while its `pop` long-poll waits leaves the server waiting for a client that will never
/// read the answer. Without this, the next added task was claimed for it and stayed running under a dead consumer
/// until its lease ran out (120 s by default). A long-poll now ends as soon as its client is gone, claims nothing
/// after that, and hands a task it claimed just before back to the queue (``QueueServerController``).
///
/// A client that half-closes its side after sending the request counts as gone: a long-poll then answers "no
/// task" at once, which such a client reads as an empty pop.
public final class ClientConnection: Sendable {
    private struct State {
        var gone = false
        var nextID = 0
        var waiters: [Int: CheckedContinuation<Void, Never>] = [:]
        var cancelled: Set<Int> = []
    }

    private let state = Mutex(State())

    public init() {}

    /// True once the client closed its side of the connection or the connection closed.
    public var isGone: Bool { state.withLock { $0.gone } }

    /// Marks the client gone and resumes every ``waitUntilGone()``; later calls do nothing.
    public func markGone() {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            guard !state.gone else { return [] }
            state.gone = true
            defer { state.waiters.removeAll() }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Returns when the client is gone, or at once when the calling task is cancelled.
    public func waitUntilGone() async {
        let id = state.withLock { state -> Int in
            state.nextID += 1
            return state.nextID
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let resumeNow = state.withLock { state -> Bool in
                    if state.gone || state.cancelled.remove(id) != nil { return true }
                    state.waiters[id] = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
                if let waiter = state.waiters.removeValue(forKey: id) { return waiter }
                state.cancelled.insert(id)
                return nil
            }
            waiter?.resume()
        }
    }
}

/// The live client connections of one server, by channel: ``handler()`` goes into every connection's channel
/// pipeline (after HTTP decoding) and registers it; a request finds its own with ``connection(for:)``.
///
/// In-process router tests have no pipeline, so their requests find none and long-polls behave as before.
public final class ClientConnections: Sendable {
    private let connections = Mutex<[ObjectIdentifier: ClientConnection]>([:])

    public init() {}

    /// The number of connections registered now (for tests).
    public var count: Int { connections.withLock { $0.count } }

    /// The connection a request came on, nil when its channel has no ``handler()``.
    public func connection(for context: QueueRequestContext) -> ClientConnection? {
        guard let channel = context.channelID else { return nil }
        return connections.withLock { $0[channel] }
    }

    /// A fresh channel handler for one connection's pipeline.
    public func handler() -> any RemovableChannelHandler {
        ClientConnectionHandler(registry: self)
    }

    fileprivate func register(_ channel: ObjectIdentifier) -> ClientConnection {
        let connection = ClientConnection()
        connections.withLock { $0[channel] = connection }
        return connection
    }

    fileprivate func remove(_ channel: ObjectIdentifier) {
        _ = connections.withLock { $0.removeValue(forKey: channel) }
    }
}

/// Registers its channel with ``ClientConnections`` and marks the connection gone on the client's end of input
/// (`ChannelEvent.inputClosed`: the server allows half-closure, so a client's FIN arrives as that event, not as
/// a close) and when the channel goes inactive. Passes every part through unchanged.
final class ClientConnectionHandler: ChannelInboundHandler, RemovableChannelHandler {
    /// Never unwrapped: every read passes through untouched.
    typealias InboundIn = Any

    private let registry: ClientConnections
    private var connection: ClientConnection?
    private var channelID: ObjectIdentifier?

    init(registry: ClientConnections) {
        self.registry = registry
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let id = ObjectIdentifier(context.channel)
        channelID = id
        connection = registry.register(id)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        connection?.markGone()
        if let channelID { registry.remove(channelID) }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, event == .inputClosed { connection?.markGone() }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        connection?.markGone()
        context.fireChannelInactive()
    }
}
