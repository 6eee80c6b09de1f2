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
        text.utf8.split(separator: UInt8(ascii: "&"), omittingEmptySubsequences: true).map(pair)
    }

    /// One `name=value` part of a form (no `&` in it), split at its first `=`, decoded.
    static func pair(_ part: Substring.UTF8View) -> Pair {
        let pieces = part.split(separator: UInt8(ascii: "="), maxSplits: 1, omittingEmptySubsequences: false)
        let name = decode(pieces[0])
        let value = pieces.count > 1 ? decode(pieces[1]) : (text: "", decoded: true)
        return Pair(name: name.text, value: value.text, decoded: name.decoded && value.decoded)
    }

    /// `raw` (UTF-8 bytes of the form's text) with `+` read as a space and its escapes decoded, or as sent (spaces
    /// read) when an escape is malformed or decodes to bytes that are not UTF-8.
    static func decode(_ raw: Substring.UTF8View.SubSequence) -> (text: String, decoded: Bool) {
        let spaced = String(decoding: raw.map { $0 == UInt8(ascii: "+") ? UInt8(ascii: " ") : $0 }, as: UTF8.self)
        guard raw.contains(UInt8(ascii: "%")) else { return (spaced, true) }
        guard let decoded = spaced.removingPercentEncoding else { return (spaced, false) }
        return (decoded, true)
    }

    /// The payload fields of a form body or a raw query string: a name given more than once becomes a list of its
    /// values in order, any other a string.
    /// - Parameters:
    ///   - bytes: the body (or query string) as sent.
    ///   - what: how errors name a pair, with its position: "Form field" (default) or "Query parameter".
    /// - Throws: ``QueueAPIError`` 400 naming the pair's position when it is not UTF-8 text, holds a malformed
    ///   escape, has a name that is not stream-safe (``Swift/String/isStreamSafe``: hashing it would cost seconds of
    ///   CPU), or a name that differs from an earlier one only in Unicode normalization (as Swift compares strings,
    ///   the two would become one field; JSON keys are refused the same way).
    public static func fields(_ bytes: some Collection<UInt8>, what: String = "Form field") throws -> [String: JSONValue] {
        var values: [String: [String]] = [:]
        var names: [String: ExactText] = [:]
        for (index, part) in bytes.split(separator: UInt8(ascii: "&"), omittingEmptySubsequences: true).enumerated() {
            let position = "\(what) \(index) (counting from 0)"
            guard let text = String(validating: part, as: UTF8.self) else {
                throw QueueAPIError(.badRequest, "\(position) is not UTF-8 text; nothing was done")
            }
            let pair = pair(Substring(text).utf8)
            guard pair.decoded else {
                throw QueueAPIError(.badRequest, "\(position) is not form-encoded UTF-8 text "
                                    + "(a '%' must be followed by two hex digits of UTF-8 bytes); nothing was done")
            }
            guard pair.name.isStreamSafe else {
                throw QueueAPIError(.badRequest, "\(position): its name has more than \(String.maxNonStartersInARow) "
                                    + "combining characters in a row (Unicode's stream-safe limit); nothing was done")
            }
            let exact = ExactText(pair.name)
            if let earlier = names[pair.name], earlier != exact {
                throw QueueAPIError(.badRequest, "\(position): its name and an earlier one differ only in Unicode normalization "
                                    + "(\"\(pair.name.prefix(40))\", written two ways); use one form for both; nothing was done")
            }
            names[pair.name] = exact
            values[pair.name, default: []].append(pair.value)
        }
        return values.mapValues { $0.count == 1 ? .string($0[0]) : .array($0.map(JSONValue.string)) }
    }

    /// True when `contentType` names a multipart body (`multipart/form-data`, what `curl -F` and file uploads send),
    /// which the API does not read.
    public static func isMultipart(_ contentType: String?) -> Bool {
        contentType?.trimmingCharacters(in: .whitespaces).lowercased().hasPrefix("multipart/") ?? false
    }
}
