import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif

/// Streams one `xl/worksheets/sheetN.xml` part into sparse rows of `XLSXCell`.
///
/// Handles shared strings (`t="s"`), inline strings (`t="inlineStr"`, rich
/// runs included), formula strings (`t="str"`), booleans (`t="b"`), errors
/// (`t="e"`), ISO dates (`t="d"`) and numbers, turning numbers whose style has
/// a date format into `.date`. Cells without a value are skipped; cells or rows
/// without an `r` attribute take the next position, as Excel does.
final class WorksheetParser: NSObject, XMLPartDelegate {
    private let part: String
    private let sharedStrings: [String]
    private let dateStyles: [Bool]
    private let dateSystem: ExcelDateSystem

    private(set) var failure: SetupWorkbookError?
    private(set) var depth = 0
    private(set) var sawElement = false
    private var rows: [Int: [Int: XLSXCell]] = [:]

    private var rowNumber = 0
    private var column = 0
    private var cellRow = 0
    private var cellType: String?
    private var cellStyle = 0
    private var inCell = false
    private var value = ""
    private var hasValue = false
    private var inlineText = ""
    private var hasInlineText = false
    private var capturingValue = false
    private var capturingInline = false
    private var inInlineString = false
    private var phoneticDepth = 0

    private init(part: String, sharedStrings: [String], dateStyles: [Bool], dateSystem: ExcelDateSystem) {
        self.part = part
        self.sharedStrings = sharedStrings
        self.dateStyles = dateStyles
        self.dateSystem = dateSystem
    }

    /// Parses a worksheet part.
    /// - Parameters:
    ///   - data: the part's XML bytes; `part` is its path, used in errors.
    ///   - sharedStrings: the workbook's shared-string table.
    ///   - dateStyles: per cell-style index (`s` attribute), whether it is a date format.
    /// - Throws: `SetupWorkbookError.malformedXML` for broken XML, bad cell
    ///   references, out-of-range shared-string indexes or unreadable values.
    static func parse(_ data: Data, part: String, sheetName: String, sharedStrings: [String],
                      dateStyles: [Bool], dateSystem: ExcelDateSystem) throws -> XLSXSheet {
        let delegate = WorksheetParser(part: part, sharedStrings: sharedStrings,
                                       dateStyles: dateStyles, dateSystem: dateSystem)
        try XMLPartReader.run(data, part: part, delegate: delegate)
        let rows = delegate.rows.map { XLSXRow(number: $0.key, cells: $0.value) }
        return XLSXSheet(name: sheetName, rows: rows, dateSystem: dateSystem)
    }

    private func fail(_ parser: XMLParser, _ reason: String) {
        guard failure == nil else { return }
        failure = .malformedXML(part: part, reason: reason)
        parser.abortParsing()
    }

    func parser(_ parser: XMLParser, didStartElement elementName: String, namespaceURI: String?,
                qualifiedName qName: String?, attributes attributeDict: [String: String] = [:]) {
        depth += 1
        sawElement = true
        switch XMLPartReader.localName(elementName) {
        case "row":
            if let text = attributeDict["r"] {
                guard let number = Int(text), number > 0 else {
                    return fail(parser, "row number '\(text)' is not valid")
                }
                rowNumber = number
            } else {
                rowNumber += 1
            }
            column = 0
        case "c":
            if let reference = attributeDict["r"] {
                guard let parsed = CellReference.parse(reference), let row = parsed.row else {
                    return fail(parser, "cell reference '\(reference)' is not valid")
                }
                column = parsed.column
                cellRow = row
            } else {
                column += 1
                cellRow = max(rowNumber, 1)
            }
            inCell = true
            cellType = attributeDict["t"]
            cellStyle = attributeDict["s"].flatMap { Int($0) } ?? 0
            value = ""
            hasValue = false
            inlineText = ""
            hasInlineText = false
        case "v" where inCell:
            capturingValue = true
            hasValue = true
        case "is" where inCell:
            inInlineString = true
        case "rPh" where inInlineString:
            phoneticDepth += 1
        case "t" where inInlineString && phoneticDepth == 0:
            capturingInline = true
            hasInlineText = true
        default:
            break
        }
    }

    func parser(_ parser: XMLParser, didEndElement elementName: String, namespaceURI: String?,
                qualifiedName qName: String?) {
        depth -= 1
        switch XMLPartReader.localName(elementName) {
        case "c":
            finishCell(parser)
            inCell = false
        case "v":
            capturingValue = false
        case "is":
            inInlineString = false
        case "rPh" where inInlineString:
            phoneticDepth -= 1
        case "t":
            capturingInline = false
        default:
            break
        }
    }

    func parser(_ parser: XMLParser, parseErrorOccurred parseError: any Error) {
        if failure == nil { failure = XMLPartReader.syntaxError(parser, parseError, part: part) }
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) {
        if capturingValue { value += string } else if capturingInline { inlineText += string }
    }

    func parser(_ parser: XMLParser, foundCDATA CDATABlock: Data) {
        self.parser(parser, foundCharacters: String(decoding: CDATABlock, as: UTF8.self))
    }

    private func finishCell(_ parser: XMLParser) {
        let reference = CellReference.letters(forColumn: column) + String(cellRow)
        let trimmed = value.trimmingCharacters(in: .whitespacesAndNewlines)
        let cell: XLSXCell?
        switch cellType {
        case "s":
            guard hasValue else { return }
            guard let index = Int(trimmed), sharedStrings.indices.contains(index) else {
                return fail(parser, "cell \(reference) refers to shared string '\(trimmed)', "
                    + "but the workbook has \(sharedStrings.count)")
            }
            cell = .string(sharedStrings[index])
        case "inlineStr":
            if hasInlineText {
                cell = .string(XMLPartReader.unescapeOOXML(inlineText))
            } else {
                cell = hasValue ? .string(XMLPartReader.unescapeOOXML(value)) : nil
            }
        case "str":
            cell = hasValue ? .string(XMLPartReader.unescapeOOXML(value)) : nil
        case "b":
            guard hasValue else { return }
            switch trimmed.lowercased() {
            case "1", "true": cell = .bool(true)
            case "0", "false": cell = .bool(false)
            default: return fail(parser, "cell \(reference) has boolean value '\(trimmed)'")
            }
        case "e":
            cell = hasValue ? .error(trimmed) : nil
        case "d":
            guard hasValue else { return }
            let text = XLSXCell.string(trimmed)
            cell = text.dateValue.map(XLSXCell.date) ?? text
        default:
            guard !trimmed.isEmpty else { return }
            guard let number = Double(trimmed) else {
                return fail(parser, "cell \(reference) has number '\(trimmed)'")
            }
            let isDate = dateStyles.indices.contains(cellStyle) && dateStyles[cellStyle]
            if isDate, let date = dateSystem.date(fromSerial: number) {
                cell = .date(date)
            } else {
                cell = .number(number)
            }
        }
        if let cell { rows[cellRow, default: [:]][column] = cell }
    }
}
