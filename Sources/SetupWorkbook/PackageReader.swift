import Foundation
import ZIPFoundation

/// Read access to the parts (files) of an OOXML ZIP package.
///
/// Part names are matched case-insensitively, as the OOXML packaging spec
/// requires; the entry index is built once so lookups are O(1).
struct PackageReader {
    /// Parts larger than this (uncompressed) are refused as implausible for a
    /// setup workbook; guards against ZIP bombs.
    static let maxPartSize: UInt64 = 256 * 1024 * 1024

    private let archive: Archive
    private let entries: [String: Entry]
    private let path: String

    /// Opens the ZIP file at `url`.
    /// - Throws: `SetupWorkbookError.unreadableArchive` when the file is
    ///   missing, is a folder or is not a ZIP archive.
    init(url: URL) throws {
        path = url.path
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
            throw SetupWorkbookError.unreadableArchive(path: path, reason: "the file does not exist")
        }
        guard !isDirectory.boolValue else {
            throw SetupWorkbookError.unreadableArchive(path: path, reason: "it is a folder, not a file")
        }
        do {
            archive = try Archive(url: url, accessMode: .read)
        } catch {
            throw SetupWorkbookError.unreadableArchive(
                path: path,
                reason: "it is not a ZIP archive, so not an .xlsx file "
                    + "(an old .xls or .ods file must first be saved as .xlsx)")
        }
        var entries: [String: Entry] = [:]
        for entry in archive where entry.type == .file {
            entries[Self.normalize(entry.path)] = entry
        }
        self.entries = entries
    }

    /// Whether the package holds this part.
    func contains(_ part: String) -> Bool { entries[Self.normalize(part)] != nil }

    /// The bytes of a part, or `nil` when the package has no such part.
    /// - Throws: `SetupWorkbookError.unreadableArchive` when the entry is
    ///   corrupt (bad CRC, unsupported compression) or implausibly large.
    func data(_ part: String) throws -> Data? {
        guard let entry = entries[Self.normalize(part)] else { return nil }
        guard entry.uncompressedSize <= Self.maxPartSize else {
            throw SetupWorkbookError.unreadableArchive(
                path: path, reason: "part '\(part)' is larger than \(Self.maxPartSize >> 20) MiB")
        }
        var data = Data()
        data.reserveCapacity(Int(entry.uncompressedSize))
        do {
            _ = try archive.extract(entry) { data.append($0) }
        } catch {
            throw SetupWorkbookError.unreadableArchive(
                path: path, reason: "part '\(part)' is corrupt (\(error))")
        }
        return data
    }

    /// Like `data(_:)` but a missing part is an error.
    /// - Throws: `SetupWorkbookError.missingPart` when absent.
    func requiredData(_ part: String) throws -> Data {
        guard let data = try data(part) else { throw SetupWorkbookError.missingPart(part: part) }
        return data
    }

    /// The `.rels` part describing the relationships of `part`
    /// ("xl/workbook.xml" → "xl/_rels/workbook.xml.rels"; "" → "_rels/.rels").
    static func relationshipsPart(for part: String) -> String {
        guard let slash = part.lastIndex(of: "/") else { return "_rels/\(part).rels" }
        return "\(part[..<slash])/_rels/\(part[part.index(after: slash)...]).rels"
    }

    /// Resolves a relationship `target` found in the rels of `source` to a part
    /// name: absolute targets ("/xl/x.xml") drop the slash, relative ones are
    /// taken from the source's folder, and "." / ".." segments are folded.
    static func resolve(_ target: String, relativeTo source: String) -> String {
        var segments: [Substring] = []
        if !target.hasPrefix("/"), let slash = source.lastIndex(of: "/") {
            segments = source[..<slash].split(separator: "/")
        }
        for segment in target.split(separator: "/") {
            switch segment {
            case ".": continue
            case "..": _ = segments.popLast()
            default: segments.append(segment)
            }
        }
        return segments.joined(separator: "/")
    }

    private static func normalize(_ part: String) -> String {
        (part.hasPrefix("/") ? String(part.dropFirst()) : part).lowercased()
    }
}
