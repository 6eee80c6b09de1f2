import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif

/// Streams `xl/sharedStrings.xml` into an array indexed like the `<v>` of
/// `t="s"` cells.
///
/// Each `<si>` is either `<t>text</t>` or rich text `<r><rPr/><t>run</t></r>...`;
/// runs are concatenated and phonetic hints (`<rPh>`) are skipped.
final class SharedStringsParser: NSObject, XMLPartDelegate {
    private let part: String
    private(set) var strings: [String] = []
    private(set) var failure: SetupWorkbookError?
    private(set) var depth = 0
    private(set) var sawElement = false
    private var current = ""
    private var inItem = false
    private var inText = false
    private var phoneticDepth = 0

    private init(part: String) { self.part = part }

    /// Parses the part's bytes; `part` names it in errors.
    static func parse(_ data: Data, part: String) throws -> [String] {
        let delegate = SharedStringsParser(part: part)
        try XMLPartReader.run(data, part: part, delegate: delegate)
        return delegate.strings
    }

    func parser(_ parser: XMLParser, didStartElement elementName: String, namespaceURI: String?,
                qualifiedName qName: String?, attributes attributeDict: [String: String] = [:]) {
        depth += 1
        sawElement = true
        switch XMLPartReader.localName(elementName) {
        case "si":
            inItem = true
            current = ""
        case "rPh":
            phoneticDepth += 1
        case "t":
            inText = inItem && phoneticDepth == 0
        default:
            break
        }
    }

    func parser(_ parser: XMLParser, didEndElement elementName: String, namespaceURI: String?,
                qualifiedName qName: String?) {
        depth -= 1
        switch XMLPartReader.localName(elementName) {
        case "si":
            strings.append(XMLPartReader.unescapeOOXML(current))
            inItem = false
        case "rPh":
            phoneticDepth -= 1
        case "t":
            inText = false
        default:
            break
        }
    }

    func parser(_ parser: XMLParser, parseErrorOccurred parseError: any Error) {
        if failure == nil { failure = XMLPartReader.syntaxError(parser, parseError, part: part) }
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) {
        if inText { current += string }
    }

    func parser(_ parser: XMLParser, foundCDATA CDATABlock: Data) {
        if inText { current += String(decoding: CDATABlock, as: UTF8.self) }
    }
}
