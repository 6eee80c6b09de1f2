import Foundation
import Hummingbird
import NIOCore
import QueueServer

/// A submitted HTML form (`application/x-www-form-urlencoded`), as ordered name/value pairs.
///
/// Field names are free-form (a worksheet's result fields are `result.<analysis uid>`, its checkboxes all
/// `uids`), so the pairs are kept as sent rather than decoded into a fixed type.
struct WebForm: Sendable {
    /// Largest accepted form body: 1 MiB.
    static let maxBytes = 1 << 20

    let pairs: [(name: String, value: String)]

    init(pairs: [(name: String, value: String)]) { self.pairs = pairs }

    /// Parses a url-encoded body (``QueueServer/FormBody/pairs(_:)``: `+` is a space; malformed percent escapes are
    /// kept as sent).
    init(encoded text: String) {
        pairs = FormBody.pairs(text).map { ($0.name, $0.value) }
    }

    /// Collects and parses the body of `request` (the buffered body stays readable for later handlers).
    /// - Throws: 413 over ``maxBytes``.
    /// - Parameter limit: the largest body read, bytes. Default: ``maxBytes``.
    static func read(_ request: inout Request, context: some RequestContext, limit: Int = maxBytes) async throws -> WebForm {
        let buffer: ByteBuffer
        do {
            buffer = try await request.collectBody(upTo: limit)
        } catch {
            // A page saying so, not an empty 413 the browser shows as a blank page (a tryout).
            throw WebError(status: .contentTooLarge, message: "The form is larger than this page accepts (\(limit / 1_024) KiB). "
                           + "Go back and send less.")
        }
        return WebForm(encoded: String(buffer: buffer))
    }

    /// The first value of `name`, nil when absent.
    func value(_ name: String) -> String? { pairs.first { $0.name == name }?.value }

    /// The trimmed first value of `name`, nil when absent or blank.
    func nonEmpty(_ name: String) -> String? {
        guard let text = value(name)?.trimmingCharacters(in: .whitespacesAndNewlines), !text.isEmpty else { return nil }
        return text
    }

    /// Every value of `name`, in order (checkboxes).
    func values(_ name: String) -> [String] { pairs.filter { $0.name == name }.map(\.value) }

    /// The fields whose names start with `prefix`, keyed by the rest of the name.
    func fields(prefixed prefix: String) -> [String: String] {
        var result: [String: String] = [:]
        for pair in pairs where pair.name.hasPrefix(prefix) {
            result[String(pair.name.dropFirst(prefix.count))] = pair.value
        }
        return result
    }

    /// Percent-encodes `text` for a query value.
    static func percentEncode(_ text: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~/")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? ""
    }
}
