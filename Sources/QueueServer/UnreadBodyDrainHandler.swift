import HTTPTypes
import NIOCore
import NIOHTTPTypes

/// Lets the server read what is left of a request body after answering it early, when the client asked to close
/// the connection after this request (`Connection: close`).
///
/// Why: Hummingbird 2.28 answers a `Connection: close` request, then stops reading and waits for the client to
/// close. A client that sends its whole body before reading the answer (Python's `urllib`, which sends `Connection:
/// close` on every request) then blocks in its send as soon as the socket buffers are full: a tryout's 5 MB POST
/// that the server had already refused (401 without a token, 413 above ``QueueRequestContext/maxUploadSize``) hung
/// until the client's own timeout. With the header taken off the request head, the server reads and drops the rest
/// of the body after its answer, as it does for every keep-alive request, and the connection ends when the client
/// closes it (after reading the answer). Nothing else of the request changes.
final class UnreadBodyDrainHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .head(var head) = unwrapInboundIn(data),
              head.headerFields[.connection]?.lowercased().contains("close") == true else {
            context.fireChannelRead(data)
            return
        }
        head.headerFields[.connection] = nil
        context.fireChannelRead(wrapInboundOut(.head(head)))
    }
}
