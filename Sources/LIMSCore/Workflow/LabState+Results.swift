import Foundation

/// Entering results.
///
/// Source: senaite.core `Field: Edit Result` permission and analysis states that accept results, reference 3.1.
extension LabState {
    /// Sets (or clears, with nil) the result of an analysis that is not yet submitted, stripped of surrounding white
    /// space as senaite.core stores it (a blank result clears it).
    /// - Throws: ``LabError`` `notFound`; `refused` with ``GuardID/permission`` if the user lacks Edit Results,
    ///   or ``GuardID/state`` once the analysis is submitted or closed.
    public mutating func setResult(_ result: String?, on analysisUID: String, context: TransitionContext) throws {
        guard let analysis = analysisRecord(analysisUID) else { throw LabError.notFound("analysis", analysisUID) }
        guard hasPermission(.editResults, on: analysisUID, user: context.user) else {
            throw LabError.refused(GuardID.permission, "\(context.user.userid) may not enter results")
        }
        let editable: Set<String> = [ReviewState.registered, ReviewState.unassigned, ReviewState.assigned]
        guard editable.contains(analysis.reviewState) else {
            throw LabError.refused(GuardID.state,
                                   "\(label(analysisUID)) is \(analysis.reviewState); its result can no longer be changed")
        }
        // senaite.core `setResult` stores the text stripped; a blank result is no result.
        let stripped = result?.trimmingCharacters(in: .whitespacesAndNewlines)
        try modifyAnalysis(analysisUID) { $0.result = stripped?.isEmpty == false ? stripped : nil }
    }
}
