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

    /// The request being answered asked for `Connection: close`.
    private var closeRequested = false
    /// That request's body was read to its end.
    private var requestEnded = false
    /// Its answer was written to its end.
    private var responseEnded = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(var head) where head.headerFields[.connection]?.lowercased().contains("close") == true:
            head.headerFields[.connection] = nil
            closeRequested = true
            requestEnded = false
            responseEnded = false
            context.fireChannelRead(wrapInboundOut(.head(head)))
        case .end where closeRequested:
            requestEnded = true
            context.fireChannelRead(data)
            closeWhenDone(context: context)
        default:
            context.fireChannelRead(data)
        }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard closeRequested else {
            context.write(data, promise: promise)
            return
        }
        switch unwrapOutboundIn(data) {
        case .head(var head) where head.status.code >= 200:
            head.headerFields[.connection] = "close"
            context.write(wrapOutboundOut(.head(head)), promise: promise)
        case .end:
            let written = context.eventLoop.makePromise(of: Void.self)
            // On the channel's event loop, where the handler and its context live.
            written.futureResult.assumeIsolated().whenComplete { [self] result in
                if case .success = result {
                    responseEnded = true
                    closeWhenDone(context: context)
                }
                promise?.completeWith(result)
            }
            context.write(data, promise: written)
        default:
            context.write(data, promise: promise)
        }
    }

    /// Closes the connection once the answer is written and the request's body was read.
    private func closeWhenDone(context: ChannelHandlerContext) {
        guard closeRequested, requestEnded, responseEnded else { return }
        closeRequested = false
        context.close(promise: nil)
    }
}
