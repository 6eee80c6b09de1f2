/// A physical reference sample (blank or control material): `/senaite/bika_setup/referencesamples/SA-0001`.
///
/// Placement choice: SENAITE keeps reference samples inside a reference supplier; this project has no
/// suppliers, so they live in one setup folder. Ids are `SA-` + 4-digit counter. Reference analyses live
/// inside their reference sample.
///
/// A reference sample is *valid* at an instant when it is not disposed and not expired.
///
/// Source: senaite.core `bika/lims/content/referencesample.py`; applyWorksheetTemplate, reference 3.5.
public struct ReferenceSample: LabObject {
    public static let portalType = PortalType.referenceSample
    public let uid: String
    public let id: String
    public let path: String
    public var version: Int
    public let created: Double
    public var title: String
    /// True for a blank, false for a control.
    public var blank: Bool
    public var definitionUID: String?
    /// Expiry instant, Unix epoch seconds. Nil = never expires.
    public var expiryDate: Double?
    /// Disposal instant, Unix epoch seconds. Nil = not disposed.
    public var dateDisposed: Double?
    /// Expected results by service uid; the services this reference sample supports.
    public var expected: [String: ReferenceValue]

    public var parentUID: String? { nil }
    public var workflowState: String? { nil }

    public init(
        uid: String, id: String, path: String, version: Int = 0, created: Double, title: String, blank: Bool,
        definitionUID: String? = nil, expiryDate: Double? = nil, dateDisposed: Double? = nil,
        expected: [String: ReferenceValue] = [:]
    ) {
        self.uid = uid
        self.id = id
        self.path = path
        self.version = version
        self.created = created
        self.title = title
        self.blank = blank
        self.definitionUID = definitionUID
        self.expiryDate = expiryDate
        self.dateDisposed = dateDisposed
        self.expected = expected
    }

    /// True when not disposed and not expired at `now` (Unix epoch seconds).
    public func isValid(at now: Double) -> Bool {
        if dateDisposed != nil { return false }
        if let expiryDate, now >= expiryDate { return false }
        return true
    }
}
