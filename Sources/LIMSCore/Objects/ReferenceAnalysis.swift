/// A blank or control analysis, inside its reference sample:
/// `/senaite/bika_setup/referencesamples/SA-0001/SA-0001-001-Cu`.
///
/// `groupID` is `<refsampleid>-<nnn>` (three digits, next free number for that reference sample); the object
/// id is `<groupID>-<keyword>` (retests: `<groupID>-<keyword>-<n>`). Reference analyses start `assigned`;
/// unassigning one deletes it.
///
/// Source: senaite.core `bika/lims/content/referenceanalysis.py`, `Worksheet.nextRefAnalysesGroupID`,
/// reference 3.3.
public struct ReferenceAnalysis: AnalysisRecord {
    public static let portalType = PortalType.referenceAnalysis
    public let uid: String
    public let id: String
    public let path: String
    public var version: Int
    public let created: Double
    public let referenceSampleUID: String
    public let serviceUID: String
    public let keyword: String
    /// True for a blank (layout type `b`), false for a control (`c`).
    public let blank: Bool
    /// `<refsampleid>-<nnn>`.
    public var groupID: String
    public var expected: ReferenceValue?
    public var reviewState: String
    public var result: String?
    public var analyst: String?
    public var submittedBy: String?
    public var dateSubmitted: Double?
    public var verifiedBy: [String]
    public var dateVerified: Double?
    public var retestOfUID: String?
    public var worksheetUID: String?
    public var methodUID: String?
    public var instrumentUID: String?

    public var kind: AnalysisKind { .reference }
    public var sampleUID: String? { nil }
    public var parentUID: String? { referenceSampleUID }
    public var workflowState: String? { reviewState }

    public init(
        uid: String, id: String, path: String, version: Int = 0, created: Double, referenceSampleUID: String,
        serviceUID: String, keyword: String, blank: Bool, groupID: String, expected: ReferenceValue? = nil,
        reviewState: String = ReviewState.assigned, result: String? = nil, analyst: String? = nil,
        submittedBy: String? = nil, dateSubmitted: Double? = nil, verifiedBy: [String] = [],
        dateVerified: Double? = nil, retestOfUID: String? = nil, worksheetUID: String? = nil,
        methodUID: String? = nil, instrumentUID: String? = nil
    ) {
        self.uid = uid
        self.id = id
        self.path = path
        self.version = version
        self.created = created
        self.referenceSampleUID = referenceSampleUID
        self.serviceUID = serviceUID
        self.keyword = keyword
        self.blank = blank
        self.groupID = groupID
        self.expected = expected
        self.reviewState = reviewState
        self.result = result
        self.analyst = analyst
        self.submittedBy = submittedBy
        self.dateSubmitted = dateSubmitted
        self.verifiedBy = verifiedBy
        self.dateVerified = dateVerified
        self.retestOfUID = retestOfUID
        self.worksheetUID = worksheetUID
        self.methodUID = methodUID
        self.instrumentUID = instrumentUID
    }
}
