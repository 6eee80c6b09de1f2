/// A duplicate of a routine analysis, inside the worksheet: `/senaite/worksheets/WS-0001/H2O-0001-D01-Cu`.
///
/// `groupID` is `<sampleid>-D<nn>` (two digits, next free number for that sample across the lab); the
/// object id is `<groupID>-<keyword>` (retests: `<groupID>-<keyword>-<n>`). Duplicates start `assigned`;
/// unassigning one deletes it.
///
/// Source: senaite.core `bika/lims/content/duplicateanalysis.py`, `Worksheet.nextRefAnalysesGroupID`,
/// reference 3.3.
public struct DuplicateAnalysis: AnalysisRecord {
    public static let portalType = PortalType.duplicateAnalysis
    public let uid: String
    public let id: String
    public let path: String
    public var version: Int
    public let created: Double
    /// The worksheet that contains this object (its parent), even after unassignment.
    public let containerWorksheetUID: String
    /// The routine analysis this duplicates.
    public let analysisUID: String
    public let sampleUID: String?
    public let serviceUID: String
    public let keyword: String
    /// `<sampleid>-D<nn>`.
    public var groupID: String
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

    public var kind: AnalysisKind { .duplicate }
    public var parentUID: String? { containerWorksheetUID }
    public var workflowState: String? { reviewState }

    public init(
        uid: String, id: String, path: String, version: Int = 0, created: Double, containerWorksheetUID: String,
        analysisUID: String, sampleUID: String, serviceUID: String, keyword: String, groupID: String,
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
        self.containerWorksheetUID = containerWorksheetUID
        self.analysisUID = analysisUID
        self.sampleUID = sampleUID
        self.serviceUID = serviceUID
        self.keyword = keyword
        self.groupID = groupID
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
