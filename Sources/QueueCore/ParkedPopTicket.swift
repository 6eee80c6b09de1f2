/// A long-polling pop parked with a store (``QueueStore/park(consumerID:max:)``): the store may claim tasks for it
/// in the transaction of a later add or done, and the long-poll takes them with ``QueueStore/withdraw(_:)``.
public struct ParkedPopTicket: Sendable, Hashable {
    /// The parked pop's number in its store, unique within the process.
    public let id: Int

    public init(id: Int) {
        self.id = id
    }
}
