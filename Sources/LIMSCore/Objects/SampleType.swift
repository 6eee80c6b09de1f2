/// A sample type: `/senaite/bika_setup/bika_sampletypes/sampletype-1`.
///
/// `prefix` starts the ids of samples of this type (`H2O` → `H2O-0001`).
///
/// Source: senaite.core `bika/lims/content/sampletype.py`; id format from the ID server default
/// `{sampleType}-{seq:04d}`.
public struct SampleType: LabObject {
    public static let portalType = PortalType.sampleType
    public let uid: String
    public let id: String
    public let path: String
    public var version: Int
    public let created: Double
    public var title: String
    /// Sample id prefix, e.g. `H2O`.
    public var prefix: String

    public var parentUID: String? { nil }
    public var workflowState: String? { nil }

    public init(uid: String, id: String, path: String, version: Int = 0, created: Double, title: String, prefix: String) {
        self.uid = uid
        self.id = id
        self.path = path
        self.version = version
        self.created = created
        self.title = title
        self.prefix = prefix
    }
}
