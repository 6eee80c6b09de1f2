import Foundation
import Hummingbird
import NIOCore
import QueueCore

/// The payload of a senaite.jsonapi request: the JSON body (an object, or a list of objects for `add`) merged
/// with the query string, as `get_json()` merges body and form (reference 1.3).
public struct RequestPayload: Sendable {
    /// The body's object, with query parameters added for keys the body lacks.
    public var fields: [String: JSONValue]
    /// The body's objects when it is a list (queue_server `add` accepts one dict or a list of dicts).
    public var items: [[String: JSONValue]]
    /// True when the body was a JSON list (only queue_server `add` accepts one).
    public var bodyIsList = false

    /// A payload of the given fields (a request without a body reads as its query string).
    public init(fields: [String: JSONValue], items: [[String: JSONValue]] = [], bodyIsList: Bool = false) {
        self.fields = fields
        self.items = items
        self.bodyIsList = bodyIsList
    }

    /// Reads the body (at most the context's upload limit, or `limit` when smaller) and the query string.
    /// - Parameters:
    ///   - forms: read a body sent as `application/x-www-form-urlencoded` as a form (``FormBody``), and the query
    ///     string as a form too (`+` a space), as senaite.jsonapi reads Zope's `request.form` (the LIMS API); a form
    ///     body that starts with `{` or `[` is still read as JSON (`curl -d '{...}'` labels JSON as a form). Without
    ///     it (the queue routes: senaite.queue's protocol is JSON) every body is read as JSON. Default: false.
    ///   - limit: the largest body read for this route, bytes (a public route's, e.g. `login`). Default: the
    ///     context's ``QueueRequestContext/maxUploadSize``.
    /// - Throws: ``QueueAPIError`` 400 for a body that is not JSON (naming the byte and the reason) or a form that
    ///   cannot be decoded (naming the field's position), an object with
    ///   two keys that differ only in Unicode normalization, or not an object/list of objects; 413 for a body over
    ///   the limit; 415 for a multipart body with `forms`.
    public static func read(_ request: Request, context: QueueRequestContext, forms: Bool = false, limit: Int? = nil) async throws -> RequestPayload {
        var request = request
        let maxBytes = min(limit ?? context.maxUploadSize, context.maxUploadSize)
        let buffer: ByteBuffer
        do {
            buffer = try await request.collectBody(upTo: maxBytes)
        } catch {
            throw QueueAPIError(.contentTooLarge, "Request body is larger than \(maxBytes) bytes")
        }
        var fields: [String: JSONValue] = [:]
        var items: [[String: JSONValue]] = []
        var bodyIsList = false
        let bytes = buffer.readableBytesView
        let first = bytes.first { !($0 == 32 || $0 == 9 || $0 == 10 || $0 == 13) }
        let contentType = request.headers[.contentType]
        if forms, FormBody.isMultipart(contentType) {
            throw QueueAPIError(.unsupportedMediaType, "multipart bodies (curl -F, file uploads) are not read: send JSON, "
                                + "or a form as application/x-www-form-urlencoded (curl -d); nothing was done")
        }
        if forms, FormBody.isFormEncoded(contentType), first != UInt8(ascii: "{"), first != UInt8(ascii: "[") {
            // An HTML form, as senaite.jsonapi reads Zope's `request.form` beside a JSON body.
            fields = try FormBody.fields(bytes)
            if !fields.isEmpty { items = [fields] }
        } else if first != nil {
            let value: JSONValue
            do {
                value = try JSONValue.parse(bytes)
            } catch let error as JSONValue.ParseError {
                // A form sent to a route that reads JSON only (the queue routes, senaite.queue's protocol).
                let formHint = !forms && FormBody.isFormEncoded(contentType) && first != UInt8(ascii: "{") && first != UInt8(ascii: "[")
                    ? " (the body is labelled a form: this route reads JSON only, as senaite.queue sends it)" : ""
                throw QueueAPIError(.badRequest, "Request body is not JSON this server can read: at byte \(error.offset) "
                                    + "(counting from 0), \(error.reason)\(formHint); nothing was done")
            }
            switch value {
            case .object(let object):
                fields = object
                items = [object]
            case .array(let array):
                bodyIsList = true
                items = try array.enumerated().map { index, element in
                    guard let object = element.objectValue else {
                        throw QueueAPIError(.badRequest, "Request body must be a JSON object or a list of objects: item \(index) of "
                                            + "the list (counting from 0) is not an object; nothing was done")
                    }
                    return object
                }
                fields = items.first ?? [:]
            default:
                throw QueueAPIError(.badRequest, "Request body must be a JSON object or a list of objects")
            }
        }
        let query: [String: JSONValue]
        if forms {
            // The query string read as a form, as Zope reads it: `+` is a space.
            query = try FormBody.fields(Array((request.uri.query ?? "").utf8), what: "Query parameter")
        } else {
            var lists: [String: [String]] = [:]
            for (key, value) in request.uri.queryParameters {
                lists[try Self.queryName(key), default: []].append(String(value))
            }
            query = lists.mapValues { $0.count == 1 ? .string($0[0]) : .array($0.map(JSONValue.string)) }
        }
        for (key, value) in query where fields[key] == nil {
            fields[key] = value
        }
        if items.isEmpty, !query.isEmpty { items = [fields] }
        for object in items + [fields] {
            if let field = nulField(object) {
                throw QueueAPIError(.badRequest, "Field '\(field)' must not contain NUL characters")
            }
        }
        return RequestPayload(fields: fields, items: items, bodyIsList: bodyIsList)
    }

    /// A query parameter's name, to be used as a dictionary key.
    /// - Throws: ``QueueAPIError`` 400 when it is not stream-safe (``Swift/String/isStreamSafe``): hashing it would
    ///   cost seconds of CPU.
    public static func queryName(_ key: Substring) throws -> String {
        let name = String(key)
        guard name.isStreamSafe else {
            throw QueueAPIError(.badRequest, "A query parameter's name has more than \(String.maxNonStartersInARow) "
                                + "combining characters in a row (Unicode's stream-safe limit)")
        }
        return name
    }

    /// The top-level key of the first member whose key or text (at any depth) holds a NUL character, or nil.
    /// Such text is refused outright: PostgreSQL cannot store or even compare it, and SQLite's `length()` stops
    /// at it (both would otherwise end in a 500).
    static func nulField(_ object: [String: JSONValue]) -> String? {
        func hasNUL(_ value: JSONValue) -> Bool {
            switch value {
            case .string(let text): return text.utf8.contains(0)
            case .array(let items): return items.contains(where: hasNUL)
            case .object(let members): return members.contains { $0.key.utf8.contains(0) || hasNUL($0.value) }
            default: return false
            }
        }
        return object.keys.sorted().first { key in key.utf8.contains(0) || hasNUL(object[key]!) }
    }

    /// A string field, or nil. - Throws: 400 naming the field if it is not a string.
    public func string(_ key: String) throws -> String? {
        guard let value = fields[key], value != .null else { return nil }
        guard let text = value.stringValue else {
            if value.arrayValue != nil {
                throw QueueAPIError(.badRequest, "Field '\(key)' must be a string, not a list (a form or query string gives a list "
                                    + "when the name is repeated)")
            }
            throw QueueAPIError(.badRequest, "Field '\(key)' must be a string")
        }
        return text
    }

    /// A boolean field: true/false, 1/0, or "1"/"true"/"yes"/"y" (any case).
    public func flag(_ key: String) -> Bool {
        switch fields[key] {
        case .bool(let flag)?: return flag
        case .int(let number)?: return number != 0
        case .string(let text)?: return ["1", "true", "yes", "y", "on"].contains(text.lowercased())
        default: return false
        }
    }

    /// A yes/no field read strictly, or nil when absent: true/false, 1/0, or "true"/"yes"/"y"/"1"/"on" and
    /// "false"/"no"/"n"/"0"/"off" (any case). For fields whose misreading costs something (`retry`).
    /// - Throws: 400 naming the field for any other value.
    public func boolean(_ key: String) throws -> Bool? {
        try Self.boolean(fields[key], field: key)
    }

    /// ``boolean(_:)`` of any JSON value (an item of a list); `field` names it in the error (`tasks[2].retry`).
    /// - Throws: 400 naming `field` for a value that is not a yes/no.
    public static func boolean(_ value: JSONValue?, field: String) throws -> Bool? {
        switch value {
        case nil, .null?: return nil
        case .bool(let flag)?: return flag
        case .int(let number)? where number == 0 || number == 1: return number == 1
        case .string(let text)? where ["1", "true", "yes", "y", "on"].contains(text.lowercased()): return true
        case .string(let text)? where ["0", "false", "no", "n", "off"].contains(text.lowercased()): return false
        default: throw QueueAPIError(.badRequest, "Field '\(field)' must be true or false")
        }
    }

    /// A number field, or nil. - Throws: 400 naming the field if it is not a number.
    public func number(_ key: String) throws -> Double? {
        guard let value = fields[key], value != .null else { return nil }
        if let number = value.doubleValue, number.isFinite { return number }
        if let text = value.stringValue, let number = Double(decimalText: text) { return number }
        throw QueueAPIError(.badRequest, "Field '\(key)' must be a number")
    }

    /// A number field taken as its nearest end of `range` when outside it, or nil: a magnitude beyond `Double`'s
    /// range (`1e400`) too, which ``number(_:)`` refuses. For fields a server clamps rather than checks (`pop`'s
    /// `wait`, as README says).
    /// - Throws: 400 naming the field if it is not a number.
    public func number(_ key: String, clampedTo range: ClosedRange<Double>) throws -> Double? {
        guard let value = fields[key], value != .null else { return nil }
        let number: Double
        if let double = value.doubleValue, !double.isNaN {
            number = double
        } else if let text = value.stringValue, let double = Double(decimalText: text, allowingOverflow: true) {
            number = double
        } else {
            throw QueueAPIError(.badRequest, "Field '\(key)' must be a number")
        }
        return min(max(number, range.lowerBound), range.upperBound)
    }

    /// A list of strings (a single string counts as a list of one), or nil.
    /// - Throws: 400 naming the field otherwise.
    public func stringList(_ key: String) throws -> [String]? {
        guard let value = fields[key], value != .null else { return nil }
        if let text = value.stringValue {
            return text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        }
        guard let array = value.arrayValue else { throw QueueAPIError(.badRequest, "Field '\(key)' must be a list of strings") }
        return try array.map { element in
            guard let text = element.stringValue else { throw QueueAPIError(.badRequest, "Field '\(key)' must be a list of strings") }
            return text
        }
    }

    /// `scheme://netloc` of the `__zeo` field, or "" (reference 1.3 summaries).
    public var zeo: String {
        guard let text = fields["__zeo"]?.stringValue, let url = URL(string: text),
              let scheme = url.scheme, let host = url.host else { return "" }
        return url.port.map { "\(scheme)://\(host):\($0)" } ?? "\(scheme)://\(host)"
    }
}
