import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif

/// A delegate that only checks well-formedness, used before XMLCoder decodes
/// a part (XMLCoder accepts some broken documents on Linux).
final class WellFormednessChecker: NSObject, XMLPartDelegate {
    private let part: String
    private(set) var failure: SetupWorkbookError?
    private(set) var depth = 0
    private(set) var sawElement = false

    init(part: String) { self.part = part }

    func parser(_ parser: XMLParser, didStartElement elementName: String, namespaceURI: String?,
                qualifiedName qName: String?, attributes attributeDict: [String: String] = [:]) {
        depth += 1
        sawElement = true
    }

    func parser(_ parser: XMLParser, didEndElement elementName: String, namespaceURI: String?,
                qualifiedName qName: String?) {
        depth -= 1
    }

    func parser(_ parser: XMLParser, parseErrorOccurred parseError: any Error) {
        if failure == nil { failure = XMLPartReader.syntaxError(parser, parseError, part: part) }
    }
}
