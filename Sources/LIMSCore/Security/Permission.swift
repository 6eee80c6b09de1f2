/// A permission checked by the workflow and the web layer, persisted by its stable snake-case id.
/// Each case names the SENAITE permission it stands for.
///
/// Source: senaite.core `bika/lims/permissions.py` and `rolemap.xml`.
public enum Permission: String, Sendable, Codable, Hashable, CaseIterable {
    /// Plone `View`.
    case view = "view"
    /// `senaite.core: Add AnalysisRequest`.
    case addSample = "add_sample"
    /// `senaite.core: Transition: Receive Sample`.
    case receive = "receive"
    /// `senaite.core: Field: Edit Result` — entering results.
    case editResults = "edit_results"
    /// `senaite.core: Transition: Submit Analysis`.
    case submit = "submit"
    /// `senaite.core: Manage Worksheets` and `Transition: Assign/Unassign Analysis`.
    case manageWorksheets = "manage_worksheets"
    /// `senaite.core: Transition: Verify`.
    case verify = "verify"
    /// `senaite.core: Transition: Retract`.
    case retract = "retract"
    /// `Reject` / `senaite.core: Transition: Reject Analysis`.
    case reject = "reject"
    /// `senaite.core: Transition: Cancel Analysis Request` / reinstate.
    case cancel = "cancel"
    /// `senaite.core: Manage Bika` — the setup folder.
    case manageSetup = "manage_setup"
    /// `senaite.queue: Manage queue` — queue settings and task admin.
    case manageQueue = "manage_queue"
}
