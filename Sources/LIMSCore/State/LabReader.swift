/// How a unit of work reads its working set: objects by uid or by catalog query, loaded into a partial
/// ``LabState`` (``LabState/init(scope:settings:rolePermissions:)``) and declared in its ``ReadScope``.
///
/// The storage layer implements it; LIMSCore only declares it, so the rules stay pure: an action loads what it
/// needs first, then applies the rules to the loaded set. Setup objects (users, lab contacts, sample types,
/// analysis categories and services, methods, instruments, reference definitions and samples, worksheet
/// templates) are in every working set, loaded whole.
///
/// Every function declares what it loaded: a uid asked for and not found is known to be missing (a later read
/// of it answers nil, not a violation).
public protocol LabReader: Sendable {
    /// Loads the objects with `uids` (those that exist).
    func load(_ uids: [String], into state: inout LabState) async throws

    /// Loads every child of each parent (a sample's analyses, a worksheet's duplicates, a reference sample's
    /// analyses) and, for samples, their duplicates; declares `children:<uid>` (and `duplicates:<uid>`).
    func loadChildren(of parentUIDs: [String], into state: inout LabState) async throws

    /// Loads what workflow rules on `uids` read: the objects, their ancestors (up to the client), for analyses
    /// their samples and worksheets, for worksheets every analysis on them, for every sample reached its
    /// analyses and duplicates, and for reference analyses among `uids` their reference sample's analyses (a
    /// retracted blank or control takes its retest id among them).
    func loadClosure(of uids: [String], into state: inout LabState) async throws

    /// Loads the routine analyses `templateUID` may select for `worksheetUID` (the first received samples, in
    /// the template's pick order, with an unassigned analysis of its services, as many as its routine slots),
    /// with their samples; declares `candidates:<templateUID>`. With `excludingQueued`, analyses in queued or
    /// running tasks do not count (the selection leaves them out). The worksheet's own closure must be loaded first.
    func loadTemplateCandidates(_ templateUID: String, for worksheetUID: String, excludingQueued: Bool,
                                into state: inout LabState) async throws

    /// Reserves `count` numbers of the id counter `key` for this unit of work (atomically; numbers a unit of work
    /// does not use are gaps), so that it creates objects without a second run. Keys: ``LabState/counterKey(_:)``.
    func reserve(_ key: String, count: Int, into state: inout LabState) async throws

    /// Loads every object below `uid` (a client's contacts, samples and their analyses); declares
    /// `subtree:<uid>`.
    func loadSubtree(of uid: String, into state: inout LabState) async throws
}
