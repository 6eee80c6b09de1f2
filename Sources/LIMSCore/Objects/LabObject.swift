/// A persisted LIMS object: what the storage layer writes as one JSON document.
///
/// Every object carries the columns the storage layer indexes: `uid` (32 lowercase hex characters), the
/// SENAITE-style `id` (unique among its siblings), the acquisition `path`, the `parentUID` (nil at the top of
/// the tree), the `version` (bumped by the storage layer on each write; LIMSCore only carries it) and the
/// `created` instant (Unix epoch seconds, UTC). `workflowState` is the review state for objects that have a
/// workflow (samples, analyses, worksheets) and nil for the others.
///
/// Source: SENAITE content objects (`bika/lims/content/*.py`), reference 3.
public protocol LabObject: Sendable, Codable, Equatable {
    /// The stable portal type name stored with the object.
    static var portalType: PortalType { get }
    /// 32 lowercase hex characters, unique in the lab.
    var uid: String { get }
    /// SENAITE-style id, unique inside the parent folder (e.g. `H2O-0001`, `Cu-1`, `WS-0001`).
    var id: String { get }
    /// Acquisition path from the portal root, e.g. `/senaite/clients/client-1/H2O-0001`.
    var path: String { get }
    /// UID of the containing object, nil when the parent is a plain folder (clients, worksheets, bika_setup).
    var parentUID: String? { get }
    /// Optimistic-locking version. Bumped by the storage layer, never by LIMSCore. Default: 0.
    var version: Int { get set }
    /// Creation instant in Unix epoch seconds (UTC). No default is provided.
    var created: Double { get }
    /// Review state for workflow-bound objects, nil for setup objects and users.
    var workflowState: String? { get }
}

/// Portal type names, persisted as text. Values are SENAITE's portal types (a sample is an `AnalysisRequest`).
///
/// Source: senaite.core portal types, reference 3.
public enum PortalType: String, Sendable, Codable, CaseIterable, Hashable {
    case client = "Client"
    case contact = "Contact"
    case labContact = "LabContact"
    case user = "User"
    case sampleType = "SampleType"
    case analysisCategory = "AnalysisCategory"
    case analysisService = "AnalysisService"
    case method = "Method"
    case instrument = "Instrument"
    case referenceDefinition = "ReferenceDefinition"
    case referenceSample = "ReferenceSample"
    case sample = "AnalysisRequest"
    case analysis = "Analysis"
    case duplicateAnalysis = "DuplicateAnalysis"
    case referenceAnalysis = "ReferenceAnalysis"
    case worksheet = "Worksheet"
    case worksheetTemplate = "WorksheetTemplate"
}
