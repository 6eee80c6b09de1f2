import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif

/// Shared plumbing for the streaming parsers of sheet and shared-string parts.
enum XMLPartReader {
    /// Runs `delegate` over `data`, turning parser failures into
    /// `SetupWorkbookError.malformedXML(part:reason:)` (with line and column).
    static func run(_ data: Data, part: String, delegate: some XMLPartDelegate) throws {
        let parser = XMLParser(data: data)
        parser.shouldProcessNamespaces = true
        parser.shouldResolveExternalEntities = false
        parser.delegate = delegate
        let succeeded = parser.parse()
        if let failure = delegate.failure { throw failure }
        if !succeeded || parser.parserError != nil {
            throw syntaxError(parser, parser.parserError, part: part)
        }
        guard delegate.sawElement else {
            throw SetupWorkbookError.malformedXML(part: part, reason: "it holds no XML elements (empty or truncated)")
        }
        guard delegate.depth == 0 else {
            throw SetupWorkbookError.malformedXML(part: part, reason: "the XML ends early (truncated part)")
        }
    }

    /// Checks that `data` is well-formed XML.
    /// - Throws: `SetupWorkbookError.malformedXML` naming `part`.
    static func validate(_ data: Data, part: String) throws {
        try run(data, part: part, delegate: WellFormednessChecker(part: part))
    }

    /// A `malformedXML` error citing the parser's position and error kind.
    static func syntaxError(_ parser: XMLParser, _ error: (any Error)?, part: String) -> SetupWorkbookError {
        var kind = "syntax error"
        if let code = (error as NSError?)?.code, let known = XMLParser.ErrorCode(rawValue: code) {
            kind = "\(known)"
        }
        return .malformedXML(
            part: part,
            reason: "not well-formed XML near line \(parser.lineNumber), column \(parser.columnNumber) (\(kind))")
    }

    /// The element name without any namespace prefix ("x:c" → "c").
    static func localName(_ name: String) -> Substring {
        guard let colon = name.lastIndex(of: ":") else { return name[...] }
        return name[name.index(after: colon)...]
    }

    /// Decodes the `_xHHHH_` escapes that Office uses for characters XML cannot
    /// carry (e.g. `_x000D_` for a carriage return, `_x005F_` for "_").
    static func unescapeOOXML(_ text: String) -> String {
        guard text.contains("_x") else { return text }
        var output = ""
        var rest = text[...]
        while let start = rest.range(of: "_x") {
            output += rest[..<start.lowerBound]
            let hexStart = start.upperBound
            if let hexEnd = rest.index(hexStart, offsetBy: 4, limitedBy: rest.endIndex),
               hexEnd < rest.endIndex, rest[hexEnd] == "_",
               let code = UInt32(rest[hexStart..<hexEnd], radix: 16),
               let scalar = Unicode.Scalar(code) {
                output.unicodeScalars.append(scalar)
                rest = rest[rest.index(after: hexEnd)...]
            } else {
                output += "_x"
                rest = rest[hexStart...]
            }
        }
        output += rest
        return output
    }
}
