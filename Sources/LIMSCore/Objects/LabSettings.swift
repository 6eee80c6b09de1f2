/// Lab-wide settings that change workflow rules (SENAITE `bika_setup`).
///
/// Source: senaite.core `bika/lims/content/bikasetup.py`; guards in
/// `bika/lims/workflow/analysis/guards.py`, reference 3.1.
public struct LabSettings: Sendable, Codable, Equatable {
    /// The submitter may verify their own results. Default: false (SENAITE `SelfVerificationEnabled`).
    public var selfVerificationEnabled: Bool
    /// Only LabManager/Manager may assign, unassign and manage worksheets. Default: true
    /// (SENAITE `RestrictWorksheetManagement`).
    public var restrictWorksheetManagement: Bool
    /// Anyone with Edit Results may submit results of analyses assigned to another analyst. Default: true
    /// (SENAITE `AllowToSubmitNotAssigned`).
    public var allowToSubmitNotAssigned: Bool
    /// Verifications required before an analysis is verified, 1…4. Default: 1
    /// (SENAITE `NumberOfRequiredVerifications`).
    public var numberOfRequiredVerifications: Int

    public init(
        selfVerificationEnabled: Bool = false, restrictWorksheetManagement: Bool = true,
        allowToSubmitNotAssigned: Bool = true, numberOfRequiredVerifications: Int = 1
    ) {
        self.selfVerificationEnabled = selfVerificationEnabled
        self.restrictWorksheetManagement = restrictWorksheetManagement
        self.allowToSubmitNotAssigned = allowToSubmitNotAssigned
        self.numberOfRequiredVerifications = max(1, numberOfRequiredVerifications)
    }
}
