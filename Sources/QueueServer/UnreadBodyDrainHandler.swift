import HTTPTypes
import NIOCore
import NIOHTTPTypes

/// Honours a request's `Connection: close` without cutting off a body the server answered early: the connection
/// is closed once both the answer has been written and the request's body has been read to its end, and the answer
/// says `Connection: close`.
///
/// Why: Hummingbird 2.28 answers a `Connection: close` request, then stops reading and waits for the client to
/// close. A client that sends its whole body before reading the answer (Python's `urllib`, which sends `Connection:
/// close` on every request) then blocks in its send as soon as the socket buffers are full: a tryout's 5 MB POST
/// that the server had already refused (401 without a token, 413 above ``QueueRequestContext/maxUploadSize``) hung
/// until the client's own timeout. So the header is taken off the request head before Hummingbird sees it: the
/// server reads and drops the rest of the body after its answer, as for every keep-alive request. This handler
/// then closes the connection itself, as RFC 9112 §9.6 requires of a server that receives `close` ("MUST initiate
/// closure of the connection after it sends the final response"); closing before the body was read would make the
/// kernel reset the connection, which can lose the answer the client has not read yet.
final class UnreadBodyDrainHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    /// For each request read and not yet answered to its end, in order, whether it asked for `Connection: close`.
    /// Pipelined requests are read before the earlier ones are answered (Hummingbird answers them in order): the
    /// flag goes with the request, so the close follows the answer of the request that asked for it, not the answer
    /// being written when it was read (a tryout's pipelined `version`, `version`, `add` with close got one answer, and
    /// the `add` was applied unanswered).
    private var closeFlags: [Bool] = []
    /// The last request read asked for `Connection: close`, and its body was read to its end.
    private var closeRequestEnded = false
    /// That request's answer was written to its end.
    private var closeResponseEnded = false
    /// The request being read asked for `Connection: close`.
    private var readingCloseRequest = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(var head):
            let close = head.headerFields[.connection]?.lowercased().contains("close") == true
            closeFlags.append(close)
            readingCloseRequest = close
            guard close else {
                context.fireChannelRead(data)
                return
            }
            head.headerFields[.connection] = nil
            context.fireChannelRead(wrapInboundOut(.head(head)))
        case .end where readingCloseRequest:
            closeRequestEnded = true
            context.fireChannelRead(data)
            closeWhenDone(context: context)
        default:
            context.fireChannelRead(data)
        }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(var head) where head.status.code >= 200 && closeFlags.first == true:
            head.headerFields[.connection] = "close"
            context.write(wrapOutboundOut(.head(head)), promise: promise)
        case .end where !closeFlags.isEmpty:
            guard closeFlags.removeFirst() else {
                context.write(data, promise: promise)
                return
            }
            let written = context.eventLoop.makePromise(of: Void.self)
            // On the channel's event loop, where the handler and its context live.
            written.futureResult.assumeIsolated().whenComplete { [self] result in
                if case .success = result {
                    closeResponseEnded = true
                    closeWhenDone(context: context)
                }
                promise?.completeWith(result)
            }
            context.write(data, promise: written)
        default:
            context.write(data, promise: promise)
        }
    }

    /// Closes the connection once the close request's answer is written and its body was read.
    private func closeWhenDone(context: ChannelHandlerContext) {
        guard closeRequestEnded, closeResponseEnded else { return }
        closeRequestEnded = false
        closeResponseEnded = false
        context.close(promise: nil)
    }
}
