/// The three analysis variants, each with its own workflow.
///
/// Source: senaite.core `bika_analysis_workflow`, `bika_duplicateanalysis_workflow`,
/// `bika_referenceanalysis_workflow`, reference 3.1.
public enum AnalysisKind: String, Sendable, Codable, Hashable {
    /// A routine analysis of a sample.
    case routine
    /// A duplicate of a routine analysis, on a worksheet.
    case duplicate
    /// A blank or control analysis of a reference sample, on a worksheet.
    case reference
}
