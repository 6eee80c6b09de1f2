/// A sample (SENAITE "AnalysisRequest"), inside its client: `/senaite/clients/client-1/H2O-0001`.
///
/// The id is the sample type prefix, a dash and a 4-digit counter kept per prefix (`H2O-0001`, `H2O-0002`).
/// `dateReceived` is set by the `receive` transition; "received" in guards means `dateReceived != nil`.
/// `priority` is 1 (highest) to 5 (lowest). Default: 3.
/// Review states: `sample_due`, `sample_received`, `to_be_verified`, `verified` (``LabWorkflows/sample``).
///
/// Source: senaite.core `bika/lims/content/analysisrequest.py`, ID server default format; reference 3.
public struct Sample: LabObject {
    public static let portalType = PortalType.sample
    public let uid: String
    public let id: String
    public let path: String
    public var version: Int
    public let created: Double
    public let clientUID: String
    public var contactUID: String
    public var sampleTypeUID: String
    /// Receipt instant, Unix epoch seconds; nil until received.
    public var dateReceived: Double?
    /// 1 (highest) … 5 (lowest). Default: 3.
    public var priority: Int
    public var reviewState: String
    /// The client's own identifier of the sample (SENAITE's `ClientSampleID`), as the client wrote it; nil when
    /// none was given. Found by the samples lists' search, as the id is.
    public var clientSampleID: String?

    public var parentUID: String? { clientUID }
    public var workflowState: String? { reviewState }

    public init(
        uid: String, id: String, path: String, version: Int = 0, created: Double, clientUID: String,
        contactUID: String, sampleTypeUID: String, dateReceived: Double? = nil, priority: Int = 3,
        reviewState: String = ReviewState.sampleDue, clientSampleID: String? = nil
    ) {
        self.uid = uid
        self.id = id
        self.path = path
        self.version = version
        self.created = created
        self.clientUID = clientUID
        self.contactUID = contactUID
        self.sampleTypeUID = sampleTypeUID
        self.dateReceived = dateReceived
        self.priority = priority
        self.reviewState = reviewState
        self.clientSampleID = clientSampleID
    }
}
