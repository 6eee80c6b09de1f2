import Foundation
import XMLCoder

/// XMLCoder models of the small package parts: `workbook.xml`, `*.rels` and
/// `styles.xml`. Only the attributes this library needs are modelled; XMLCoder
/// ignores the rest. Element names are matched without namespace prefixes.
enum OOXMLParts {
    /// Decodes one part, mapping every failure to `SetupWorkbookError.malformedXML`.
    static func decode<T: Decodable>(_ type: T.Type, from data: Data, part: String) throws -> T {
        try XMLPartReader.validate(data, part: part)
        let decoder = XMLDecoder()
        decoder.shouldProcessNamespaces = true
        decoder.trimValueWhitespaces = false
        do {
            return try decoder.decode(T.self, from: data)
        } catch let error as DecodingError {
            throw SetupWorkbookError.malformedXML(part: part, reason: summary(of: error))
        } catch {
            throw SetupWorkbookError.malformedXML(part: part, reason: "\(error)")
        }
    }

    private static func summary(of error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            let keys = context.codingPath.map(\.stringValue).filter { !$0.isEmpty }
            return keys.isEmpty ? "" : " at \(keys.joined(separator: "/"))"
        }
        switch error {
        case let .keyNotFound(key, context):
            return "required '\(key.stringValue)' is missing\(path(context))"
        case let .typeMismatch(_, context), let .valueNotFound(_, context):
            return "unexpected value\(path(context)): \(context.debugDescription)"
        case let .dataCorrupted(context):
            return "not well-formed XML\(path(context)): \(context.debugDescription)"
        @unknown default:
            return "\(error)"
        }
    }

    /// A coding key that accepts any attribute or element name.
    struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    /// `xl/workbook.xml`: sheet list (in tab order) and the date system.
    struct Workbook: Decodable {
        struct Properties: Decodable {
            let date1904: String?
        }
        struct Sheets: Decodable {
            let sheet: [Sheet]?
        }
        struct Sheet: Decodable {
            let name: String
            /// The `r:id` attribute, whatever prefix the producer bound to the
            /// relationships namespace.
            let relationshipID: String

            init(from decoder: any Decoder) throws {
                let container = try decoder.container(keyedBy: AnyKey.self)
                name = try container.decode(String.self, forKey: AnyKey(stringValue: "name"))
                guard let idKey = container.allKeys.first(where: {
                    $0.stringValue == "id" || $0.stringValue.hasSuffix(":id")
                }) else {
                    throw DecodingError.keyNotFound(AnyKey(stringValue: "r:id"), .init(
                        codingPath: decoder.codingPath,
                        debugDescription: "sheet '\(name)' has no relationship id"))
                }
                relationshipID = try container.decode(String.self, forKey: idKey)
            }
        }

        let workbookPr: Properties?
        let sheets: Sheets

        /// Whether `date1904` is set ("1" or "true").
        var usesDate1904: Bool {
            guard let flag = workbookPr?.date1904?.lowercased() else { return false }
            return flag == "1" || flag == "true"
        }
    }

    /// Any `_rels/*.rels` part.
    struct Relationships: Decodable {
        struct Relationship: Decodable {
            let Id: String
            let `Type`: String
            let Target: String
            let TargetMode: String?
        }
        let Relationship: [Relationship]?
    }

    /// `xl/styles.xml`: custom number formats and the cell formats (`cellXfs`)
    /// that a cell's `s` attribute indexes into.
    struct Styles: Decodable {
        struct NumFmts: Decodable {
            let numFmt: [NumFmt]?
        }
        struct NumFmt: Decodable {
            let numFmtId: Int
            let formatCode: String
        }
        struct CellXfs: Decodable {
            let xf: [Xf]?
        }
        struct Xf: Decodable {
            let numFmtId: Int?
        }

        let numFmts: NumFmts?
        let cellXfs: CellXfs?

        /// For each cell style index, whether it formats numbers as dates.
        func dateStyleFlags() -> [Bool] {
            var custom: [Int: String] = [:]
            for format in numFmts?.numFmt ?? [] { custom[format.numFmtId] = format.formatCode }
            return (cellXfs?.xf ?? []).map { xf in
                let id = xf.numFmtId ?? 0
                return NumberFormats.isDate(id: id, code: custom[id])
            }
        }
    }
}
