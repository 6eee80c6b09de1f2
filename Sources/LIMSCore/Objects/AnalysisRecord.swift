import Foundation

/// The fields shared by routine, duplicate and reference analyses, so that the workflow engine can handle
/// all three alike.
///
/// Invariants: `worksheetUID` is non-nil iff the analysis has a row in that worksheet's layout;
/// `submittedBy`/`dateSubmitted` are set iff the analysis was submitted; `verifiedBy` lists verifiers in order.
///
/// Source: senaite.core `bika/lims/content/abstractanalysis.py`, reference 3.1.
public protocol AnalysisRecord: LabObject {
    var kind: AnalysisKind { get }
    /// Service keyword, e.g. `Cu`.
    var keyword: String { get }
    var serviceUID: String { get }
    /// UID of the sample the result belongs to (nil for reference analyses).
    var sampleUID: String? { get }
    var reviewState: String { get set }
    /// The result as entered (SENAITE stores results as strings). Nil or empty = no result.
    var result: String? { get set }
    /// Username of the assigned analyst.
    var analyst: String? { get set }
    /// Username of the submitter.
    var submittedBy: String? { get set }
    /// Submission instant, Unix epoch seconds.
    var dateSubmitted: Double? { get set }
    /// Usernames of verifiers, in order.
    var verifiedBy: [String] { get set }
    /// Last verification instant, Unix epoch seconds.
    var dateVerified: Double? { get set }
    /// UID of the analysis this one retests (SENAITE `RetestOf`).
    var retestOfUID: String? { get set }
    /// UID of the worksheet the analysis is on.
    var worksheetUID: String? { get set }
    var methodUID: String? { get set }
    var instrumentUID: String? { get set }
}

extension AnalysisRecord {
    /// True when a non-blank result is set.
    public var hasResult: Bool {
        guard let result else { return false }
        return !result.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty
    }
}
