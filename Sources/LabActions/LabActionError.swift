import LIMSCore

/// Why the lab refused an action, in the lab's terms and without any HTTP status: the adapters (the JSON API,
/// the web pages, the command line) say it their own way.
///
/// The message names the field of the request at fault when there is one ("Field 'analyst': ...").
public struct LabActionError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What kind of refusal.
    public enum Kind: String, Sendable, Equatable {
        /// The request is malformed or names something that cannot be used (a field's value).
        case invalidInput
        /// The object the action is for does not exist, or the user may not see it.
        case notFound
        /// The user may not perform the action.
        case forbidden
        /// The lab's state does not allow it now (a guard, a duplicate, concurrent changes that outlived the
        /// retries).
        case conflict
        /// No signed-in user of the lab.
        case unauthenticated
        /// A fault of the system, not of the request (a unit of work that read outside its working set).
        case internalFault
    }

    /// What kind of refusal.
    public let kind: Kind
    /// What was refused and why, naming the field when there is one.
    public let message: String

    /// - Parameters:
    ///   - kind: what kind of refusal.
    ///   - message: what and why; name the field ("Field 'uids': ...").
    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    /// A lab rule error as an action error, naming `field`: not found, invalid input, a refused permission
    /// (forbidden), another refusal or a duplicate (conflict); the refusing guard is named.
    public init(_ error: LabError, field: String?) {
        let kind: Kind
        switch error.code {
        case .notFound: kind = .notFound
        case .invalidInput: kind = .invalidInput
        case .refused: kind = error.guardID == GuardID.permission ? .forbidden : .conflict
        case .duplicate: kind = .conflict
        case .outsideWorkingSet: kind = .internalFault
        }
        let guardText = error.guardID.map { " (guard \($0))" } ?? ""
        self.init(kind, (field.map { "Field '\($0)': " } ?? "") + error.message + guardText)
    }

    public var description: String { message }
}
