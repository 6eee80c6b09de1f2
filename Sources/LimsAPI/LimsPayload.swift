import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import QueueCore
import QueueServer

/// The payload of a LIMS JSON API request: the JSON body object merged with the query string (body wins), as
/// senaite.jsonapi's `get_json()` merges body and form. Every accessor names the field in its 400 message.
/// Reading and the common typed accessors are the queue server's ``RequestPayload``; this adds the LIMS ones.
struct LimsPayload: Sendable {
    let base: RequestPayload

    init(base: RequestPayload) {
        self.base = base
    }

    /// A payload of the given fields (e.g. a GET's query string).
    init(fields: [String: JSONValue]) {
        self.base = RequestPayload(fields: fields)
    }

    /// The body's members plus query parameters the body lacks.
    var fields: [String: JSONValue] { base.fields }

    /// Reads the body (at most the context's upload limit, or `limit`), JSON or a form, and the query string read as
    /// a form (``RequestPayload/read(_:context:forms:limit:)``).
    /// - Throws: ``QueueAPIError`` 400 for a body that is not a JSON object or a readable form, 413 for a body over
    ///   the limit, 415 for a multipart body.
    static func read(_ request: Request, context: QueueRequestContext, limit: Int? = nil) async throws -> LimsPayload {
        let base = try await RequestPayload.read(request, context: context, forms: true, limit: limit)
        guard !base.bodyIsList else { throw QueueAPIError(.badRequest, "Request body must be a JSON object") }
        return LimsPayload(base: base)
    }

    /// The query string as fields, read as a form as Zope reads it (`+` a space; a repeated key becomes a list).
    /// - Throws: ``QueueAPIError`` 400 naming the parameter's position when it cannot be decoded or its name is not
    ///   stream-safe (``QueueServer/FormBody/fields(_:what:)``).
    static func query(_ request: Request) throws -> [String: JSONValue] {
        try FormBody.fields(Array((request.uri.query ?? "").utf8), what: "Query parameter")
    }

    /// True when the field is present and not null.
    func has(_ key: String) -> Bool {
        if let value = fields[key], value != .null { return true }
        return false
    }

    /// A string field, or nil when absent. - Throws: 400 naming the field if it is not a string.
    func string(_ key: String) throws -> String? { try base.string(key) }

    /// A required, non-empty string field. - Throws: 400 naming the field when missing, empty or not a string.
    func requiredString(_ key: String) throws -> String {
        guard let text = try string(key)?.trimmingCharacters(in: .whitespaces), !text.isEmpty else {
            throw QueueAPIError(.badRequest, "Field '\(key)' is required")
        }
        return text
    }

    /// Longest uid or name a request may give, in UTF-8 bytes (SENAITE uids are 32 ASCII characters, action names
    /// shorter):
    /// longer values are refused, not looked up and echoed back (a 1 MB `action` came back twice in a 2 MB answer).
    static let maxNameLength = 64

    /// A required uid or name of at most ``maxNameLength`` characters.
    /// - Throws: 400 naming the field when missing, empty, not a string or longer.
    func requiredName(_ key: String) throws -> String {
        try checkedName(key, requiredString(key))
    }

    /// An optional uid or name of at most ``maxNameLength`` characters, nil when absent.
    /// - Throws: 400 naming the field when not a string or longer.
    func name(_ key: String) throws -> String? {
        try string(key).map { try checkedName(key, $0) }
    }

    /// `value` when it has at most `maxLength` bytes of UTF-8 (default ``maxNameLength``).
    /// - Throws: 400 naming `key`, quoting only the value's first 16 characters, when longer.
    func checkedName(_ key: String, _ value: String, maxLength: Int = maxNameLength) throws -> String {
        guard value.utf8.count <= maxLength else {
            throw QueueAPIError(.badRequest, "Field '\(key)': '\(value.prefix(16))...' is too long (\(value.utf8.count) bytes of UTF-8; at most \(maxLength))")
        }
        return value
    }

    /// Longest title a request may name an object by (a sample type's title), in UTF-8 bytes.
    static let maxTitleLength = 256

    /// An integer field (a JSON integer or a string of digits), or nil when absent.
    /// - Throws: 400 naming the field otherwise: out of range for a whole JSON number of 9e15 or more, or digits beyond
    ///   64 bits (a tryout's `page=99999999999999999999` was told "must be an
    ///   integer"), or given more than once (`?page=2&page=3`).
    func int(_ key: String) throws -> Int? {
        guard let value = fields[key], value != .null else { return nil }
        if let number = value.intValue { return number }
        if let text = value.stringValue?.trimmingCharacters(in: .whitespaces) {
            if let number = Int(text) { return number }
            let digits = text.first == "-" || text.first == "+" ? text.dropFirst() : Substring(text)
            if !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isWholeNumber }) {
                throw QueueAPIError(.badRequest, "Field '\(key)' is out of range (a number beyond 64 bits)")
            }
        }
        if let number = value.doubleValue, number.isFinite, number.rounded() == number {
            throw QueueAPIError(.badRequest, "Field '\(key)' is out of range (a JSON number of at most 15 digits)")
        }
        // A query string that repeats the key (`?page=2&page=3`) reads as a list.
        if value.arrayValue != nil {
            throw QueueAPIError(.badRequest, "Field '\(key)' must be one integer (it is given more than once)")
        }
        throw QueueAPIError(.badRequest, "Field '\(key)' must be an integer")
    }

    /// A list of strings (a single string counts as a comma-separated list), or nil when absent.
    /// - Throws: 400 naming the field otherwise.
    func stringList(_ key: String) throws -> [String]? { try base.stringList(key) }

    /// A required, non-empty list of strings. - Throws: 400 naming the field when missing, empty or mistyped.
    func requiredStringList(_ key: String) throws -> [String] {
        guard let list = try stringList(key), !list.isEmpty else {
            throw QueueAPIError(.badRequest, "Field '\(key)' is required (a non-empty list)")
        }
        return list
    }

    /// Most uids one request may act on: a worksheet holds tens to a few hundred analyses, and every uid is answered
    /// with an item, so a request naming tens of thousands (2-3 s of work answering "no such object") is refused.
    static let maxUIDsPerRequest = 5_000

    /// The required `uids` of an action, at most ``maxUIDsPerRequest``.
    /// - Throws: 400 naming `uids` when missing, empty, mistyped or too long.
    func actionUIDs() throws -> [String] {
        let uids = try requiredStringList("uids")
        guard uids.count <= Self.maxUIDsPerRequest else {
            throw QueueAPIError(.badRequest, "Field 'uids' names \(uids.count) objects; at most \(Self.maxUIDsPerRequest) per request")
        }
        // A uid is 32 hex characters (SENAITE's); anything past 64 is not one, and each is echoed in the answer.
        if let long = uids.first(where: { $0.utf8.count > 64 }) {
            throw QueueAPIError(.badRequest, "Field 'uids': '\(long.prefix(16))...' is not a uid (\(long.utf8.count) bytes of UTF-8; at most 64)")
        }
        return uids
    }

    /// A list of integers, or nil when absent. - Throws: 400 naming the field otherwise.
    func intList(_ key: String) throws -> [Int]? {
        guard let value = fields[key], value != .null else { return nil }
        guard let array = value.arrayValue else { throw QueueAPIError(.badRequest, "Field '\(key)' must be a list of integers") }
        return try array.map { element in
            guard let number = element.intValue else { throw QueueAPIError(.badRequest, "Field '\(key)' must be a list of integers") }
            return number
        }
    }
}

/// JSON answers of the LIMS API (the queue server's ``JSONResponse``).
enum LimsResponse {
    /// `body` as a JSON response with `status`. Default status: 200.
    static func make(status: HTTPResponse.Status = .ok, _ body: [String: JSONValue]) -> Response {
        JSONResponse.make(status: status, body: body)
    }
}
