/// A reference definition (blank or control recipe): `/senaite/bika_setup/bika_referencedefinitions/referencedefinition-1`.
///
/// `expected` maps a service uid to its expected value.
///
/// Source: senaite.core `bika/lims/content/referencedefinition.py`; used by worksheet templates (reference 3.4).
public struct ReferenceDefinition: LabObject {
    public static let portalType = PortalType.referenceDefinition
    public let uid: String
    public let id: String
    public let path: String
    public var version: Int
    public let created: Double
    public var title: String
    /// True for a blank, false for a control.
    public var blank: Bool
    public var expected: [String: ReferenceValue]

    public var parentUID: String? { nil }
    public var workflowState: String? { nil }

    public init(
        uid: String, id: String, path: String, version: Int = 0, created: Double, title: String, blank: Bool,
        expected: [String: ReferenceValue] = [:]
    ) {
        self.uid = uid
        self.id = id
        self.path = path
        self.version = version
        self.created = created
        self.title = title
        self.blank = blank
        self.expected = expected
    }
}
