/// Why a guard said no: the guard's id (``GuardID``) and a reason a lab user understands.
public struct GuardRefusal: Sendable, Equatable, Error {
    public let guardID: String
    public let reason: String

    public init(_ guardID: String, _ reason: String) {
        self.guardID = guardID
        self.reason = reason
    }

    /// The refusal as a ``LabError`` with code `refused`.
    public var labError: LabError { LabError.refused(guardID, reason) }
}
