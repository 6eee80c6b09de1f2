import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif

/// A streaming (SAX) XML delegate that can stop the parse with a domain error.
///
/// Conforming types must count element nesting in `depth` (+1 on start, -1 on
/// end), set `sawElement` on the first start tag, and report syntax errors from
/// `parser(_:parseErrorOccurred:)` through `XMLPartReader.syntaxError`: on Linux
/// `XMLParser.parse()` can return `true` for mismatched or truncated XML.
protocol XMLPartDelegate: XMLParserDelegate {
    /// Set by the delegate before it calls `abortParsing()`.
    var failure: SetupWorkbookError? { get }
    /// Currently open elements; non-zero after the parse means truncated XML.
    var depth: Int { get }
    /// Whether any element was seen.
    var sawElement: Bool { get }
}
