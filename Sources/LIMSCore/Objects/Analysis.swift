/// A routine analysis, inside its sample: `/senaite/clients/client-1/H2O-0001/Cu`.
///
/// The id is the service keyword; retests are `Cu-1`, `Cu-2` (smallest unused suffix), with `retestOfUID`
/// pointing at the retracted original. Review states: ``LabWorkflows/analysis``.
///
/// Source: senaite.core `bika/lims/content/analysis.py`, `bika/lims/utils/analysis.py` `create_retest`,
/// reference 3.1.
public struct Analysis: AnalysisRecord {
    public static let portalType = PortalType.analysis
    public let uid: String
    public let id: String
    public let path: String
    public var version: Int
    public let created: Double
    public let sampleUID: String?
    public let serviceUID: String
    public let keyword: String
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

    public var kind: AnalysisKind { .routine }
    public var parentUID: String? { sampleUID }
    public var workflowState: String? { reviewState }

    public init(
        uid: String, id: String, path: String, version: Int = 0, created: Double, sampleUID: String,
        serviceUID: String, keyword: String, reviewState: String = ReviewState.registered, result: String? = nil,
        analyst: String? = nil, submittedBy: String? = nil, dateSubmitted: Double? = nil, verifiedBy: [String] = [],
        dateVerified: Double? = nil, retestOfUID: String? = nil, worksheetUID: String? = nil,
        methodUID: String? = nil, instrumentUID: String? = nil
    ) {
        self.uid = uid
        self.id = id
        self.path = path
        self.version = version
        self.created = created
        self.sampleUID = sampleUID
        self.serviceUID = serviceUID
        self.keyword = keyword
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
