/// An error of the LIMS rules, with a code and a message a lab user understands.
///
/// `guardID` names the rule that refused an operation (e.g. ``GuardID/worksheetAcceptsAnalyses``,
/// `analysis.assign`, `permission`), nil for other codes.
public struct LabError: Error, Equatable, Sendable, CustomStringConvertible {
    /// What went wrong.
    public enum Code: String, Sendable, Equatable {
        /// No object with that uid (or of the expected type).
        case notFound
        /// An input is malformed or inconsistent (e.g. empty prefix, slot ≤ 0).
        case invalidInput
        /// A lab rule or guard refused the operation; `guardID` says which.
        case refused
        /// An id or a unique value already exists.
        case duplicate
        /// A unit of work read outside its working set (a bug in the action's declared reads, never a user's
        /// fault). Source: ``ReadScope``.
        case outsideWorkingSet
    }

    public let code: Code
    public let message: String
    public let guardID: String?

    public init(_ code: Code, _ message: String, guardID: String? = nil) {
        self.code = code
        self.message = message
        self.guardID = guardID
    }

    public var description: String { message }

    static func notFound(_ what: String, _ uid: String) -> LabError {
        LabError(.notFound, "No \(what) with uid \(uid)")
    }

    static func refused(_ guardID: String, _ message: String) -> LabError {
        LabError(.refused, message, guardID: guardID)
    }
}
