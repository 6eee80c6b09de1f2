import Foundation
import LIMSCore


/// What a result may be: a finite decimal number, unless the service allows string results (SENAITE's
/// `StringResult`), and never longer than ``maxResultLength``.
///
/// Source: senaite.core `AbstractRoutineAnalysis.setResult` / `api.is_floatable` (results of numeric services are
/// floats written in decimal) and the `StringResult` option of analysis services; the length bound is this
/// project's (issue 13, finding 8).
extension LabActions {
    /// Longest result in characters: 1,000 (string results); numbers are at most 64 characters.
    public static let maxResultLength = 1000
    /// Longest numeric result in characters: 64.
    public static let maxNumericResultLength = 64

    /// Checks `result` for the analysis's service. nil (clearing the result) is always accepted.
    /// - Throws: ``LabActionError`` invalid input naming `Result`: too long (1,000 characters; 64 for a number);
    ///   not a finite decimal number for a service without string results.
    static func validateResult(_ result: String?, service: AnalysisService?) throws {
        guard let result else { return }
        guard result.count <= maxResultLength else {
            throw LabActionError(.invalidInput, "Field 'Result': at most \(maxResultLength) characters, got \(result.count)")
        }
        if service?.allowsStringResult == true { return }
        let text = result.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !text.isEmpty else { return } // an empty result is no result
        let keyword = service.map { " (\($0.keyword) takes numbers only; its service does not allow string results)" } ?? ""
        guard text.count <= maxNumericResultLength else {
            // Found by a tryout: 65 digits were called "not a finite number".
            throw LabActionError(.invalidInput, "Field 'Result': '\(text.prefix(40))...' is too long for a number "
                                 + "(\(text.count) characters; at most \(maxNumericResultLength))")
        }
        guard isDecimalNumber(text), let value = Double(text), value.isFinite else {
            throw LabActionError(.invalidInput, "Field 'Result': '\(text.prefix(40))' is not a finite number\(keyword)")
        }
    }

    /// True for a decimal number: optional sign, digits with an optional point (or a point and digits), optional
    /// exponent. Not `inf`, `nan`, hex floats or thousands separators.
    static func isDecimalNumber(_ text: String) -> Bool {
        text.range(of: #"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$"#, options: .regularExpression) != nil
    }
}
