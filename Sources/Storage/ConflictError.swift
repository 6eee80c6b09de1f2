/// A unit of work that kept losing to concurrent writers: objects it read were changed by someone else before
/// it could write, on every attempt. Nothing of it was written. Like ZODB's `ConflictError` after Zope's
/// three retries. Source: senaite.core #693, reference 5.6.
public struct ConflictError: Error, Equatable, CustomStringConvertible {
    /// Uids whose version had moved on the last attempt.
    public let uids: [String]
    /// Attempts made (the first plus the retries).
    public let attempts: Int

    public init(uids: [String], attempts: Int) {
        self.uids = uids
        self.attempts = attempts
    }

    public var description: String {
        "Conflict: \(uids.prefix(3).joined(separator: ", ")) changed concurrently; gave up after \(attempts) attempts"
    }
}
