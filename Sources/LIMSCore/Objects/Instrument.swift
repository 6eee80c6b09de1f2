/// A lab instrument: `/senaite/bika_setup/bika_instruments/instrument-1`.
///
/// `methodUIDs` are the methods it supports, in order; the first one is set on an analysis that gets this
/// instrument from its worksheet.
///
/// Source: senaite.core `bika/lims/content/instrument.py`; `Worksheet.addAnalysis`, reference 3.3.
public struct Instrument: LabObject {
    public static let portalType = PortalType.instrument
    public let uid: String
    public let id: String
    public let path: String
    public var version: Int
    public let created: Double
    public var title: String
    public var methodUIDs: [String]

    public var parentUID: String? { nil }
    public var workflowState: String? { nil }

    public init(uid: String, id: String, path: String, version: Int = 0, created: Double, title: String, methodUIDs: [String] = []) {
        self.uid = uid
        self.id = id
        self.path = path
        self.version = version
        self.created = created
        self.title = title
        self.methodUIDs = methodUIDs
    }
}
