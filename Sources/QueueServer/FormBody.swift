import Foundation
import QueueCore

/// A request body sent as an HTML form (`application/x-www-form-urlencoded`): its pairs, and the payload fields
/// the JSON API reads from it.
///
/// senaite.jsonapi reads a request's payload from its JSON body merged with Zope's `request.form`, so scripts
/// written for SENAITE post forms as well as JSON: its own documentation logs in with `__ac_name` and
/// `__ac_password` as form or query parameters (senaite.jsonapi `docs/auth.rst`). Source of the encoding: the
/// WHATWG URL standard, `application/x-www-form-urlencoded` parsing (`&`-separated `name=value` pairs, `+` for a
/// space, `%XX` escapes of UTF-8 bytes).
public enum FormBody {
    /// True when `contentType` (a `Content-Type` header's value, any case, parameters such as `charset` allowed)
    /// names a form body.
    public static func isFormEncoded(_ contentType: String?) -> Bool {
        guard let contentType else { return false }
        let mediaType = contentType.split(separator: ";", maxSplits: 1).first ?? ""
        return mediaType.trimmingCharacters(in: .whitespaces).lowercased() == "application/x-www-form-urlencoded"
    }

    /// One `name=value` pair of a form, decoded. `decoded` is false when the name or value held a `%` not followed
    /// by two hex digits of UTF-8 bytes: that text is then kept as sent (with `+` read as a space).
    public struct Pair: Sendable {
        public var name: String
        public var value: String
        public var decoded: Bool
    }

    /// The pairs of form text, in order: a pair without `=` has an empty value; empty pairs (`a=1&&b=2`) are
    /// skipped. The text is split at its `&` and first `=` bytes (not characters: a combining accent after `&` must
    /// not hide it), `+` is read as a space, then `%XX` escapes are decoded (Foundation's `removingPercentEncoding`).
    public static func pairs(_ text: String) -> [Pair] {
        text.utf8.split(separator: UInt8(ascii: "&"), omittingEmptySubsequences: true).map { part in
            let pieces = part.split(separator: UInt8(ascii: "="), maxSplits: 1, omittingEmptySubsequences: false)
            let name = decode(pieces[0])
            let value = pieces.count > 1 ? decode(pieces[1]) : (text: "", decoded: true)
            return Pair(name: name.text, value: value.text, decoded: name.decoded && value.decoded)
        }
    }

    /// `raw` (UTF-8 bytes of the form's text) with `+` read as a space and its escapes decoded, or as sent (spaces
    /// read) when an escape is malformed or decodes to bytes that are not UTF-8.
    static func decode(_ raw: Substring.UTF8View.SubSequence) -> (text: String, decoded: Bool) {
        let spaced = String(decoding: raw.map { $0 == UInt8(ascii: "+") ? UInt8(ascii: " ") : $0 }, as: UTF8.self)
        guard raw.contains(UInt8(ascii: "%")) else { return (spaced, true) }
        guard let decoded = spaced.removingPercentEncoding else { return (spaced, false) }
        return (decoded, true)
    }

    /// The payload fields of a form body: a name given more than once becomes a list of its values in order (as a
    /// repeated query parameter does), any other a string.
    /// - Parameter bytes: the body as sent.
    /// - Throws: ``QueueAPIError`` 400 when the body is not UTF-8 text, when a pair holds a malformed escape (naming
    ///   the pair's position), and when a name is not stream-safe (``Swift/String/isStreamSafe``: hashing it would
    ///   cost seconds of CPU).
    public static func fields(_ bytes: some Collection<UInt8>) throws -> [String: JSONValue] {
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw QueueAPIError(.badRequest, "Request body is a form that is not UTF-8 text; nothing was done")
        }
        var values: [String: [String]] = [:]
        for (index, pair) in pairs(text).enumerated() {
            guard pair.decoded else {
                throw QueueAPIError(.badRequest, "Form field \(index) (counting from 0) is not form-encoded UTF-8 text "
                                    + "(a '%' must be followed by two hex digits of UTF-8 bytes); nothing was done")
            }
            guard pair.name.isStreamSafe else {
                throw QueueAPIError(.badRequest, "Form field \(index) (counting from 0): its name has more than "
                                    + "\(String.maxNonStartersInARow) combining characters in a row (Unicode's stream-safe limit); nothing was done")
            }
            values[pair.name, default: []].append(pair.value)
        }
        return values.mapValues { $0.count == 1 ? .string($0[0]) : .array($0.map(JSONValue.string)) }
    }
}
