import Foundation
import Hummingbird
import LabActions
import LIMSCore
import QueueCore
import QueueServer

/// `GET <portal_type>` listings and `GET <uid>`.
///
/// Source: senaite.jsonapi `routes/content.py` and `api.get_batched` (count, pagesize, page, pages, next,
/// previous), reference 3.
extension LimsAPIController {
    /// `GET <name>`: a listing when `name` is a portal type, the object when it is a uid, else 404.
    @Sendable func getByName(_ request: Request, context: QueueRequestContext) async throws -> Response {
        try await get(name: try context.parameters.require("name"), request: request, context: context)
    }

    /// ``getByName(_:context:)`` for a name given by the route itself (a resource name that is also the first part
    /// of a literal route, such as `worksheet` of `worksheet/create`).
    func get(name: String, request: Request, context: QueueRequestContext) async throws -> Response {
        if let portalType = Self.portalType(resource: name) {
            return try await listing(portalType, request: request, context: context)
        }
        guard Self.isUID(name) else {
            throw QueueAPIError(.notFound, "'\(name.quotedPrefix())' is neither a portal type nor a uid")
        }
        let userID = context.userID
        let (found, state) = try await repository.read { state, reader -> (Bool, LabState) in
            let user = try Self.user(userID, in: state)
            try await reader.loadClosure(of: [name], into: &state)
            guard state.peekObject(name) != nil, Self.isVisible(name, to: user, in: state) else { return (false, state) }
            return (true, state)
        }
        guard found, let object = state.peekObject(name) else { throw QueueAPIError(.notFound, "No object with uid \(name)") }
        let base = Self.apiURL(request)
        var item = Self.fullItem(object, state: state, baseURL: base)
        let children = item["Analyses"]?.arrayValue?.compactMap { $0.objectValue?["uid"]?.stringValue } ?? []
        let queued = try await actions.queueStatus().isEnabled ? try await repository.queued(among: [name] + children) : []
        Self.markQueued(&item, object, queued: queued)
        if var children = item["Analyses"]?.arrayValue {
            for index in children.indices {
                if var child = children[index].objectValue, let uid = child["uid"]?.stringValue, let analysis = state.peekObject(uid) {
                    Self.markQueued(&child, analysis, queued: queued)
                    children[index] = .object(child)
                }
            }
            item["Analyses"] = .array(children)
        }
        return Self.items([item], url: base + "/" + name)
    }

    /// The portal type a resource name of the route names, as senaite.jsonapi's `resource_to_portal_type` maps it:
    /// percent-escapes decoded, any case, spaces left out (`AnalysisRequest`, `analysisrequest` and
    /// `Analysis%20Request` name one type), nil when none does.
    static func portalType(resource name: String) -> PortalType? {
        guard name.utf8.count <= 64 else { return nil }
        let resource = (name.removingPercentEncoding ?? name).lowercased().filter { $0 != " " }
        return PortalType.allCases.first { $0.rawValue.lowercased() == resource }
    }

    /// Sets `is_queued` on items of samples, analyses and worksheets (senaite.queue `is_queued`, reference 0 and
    /// 1.10): the object is the context of, or among the `uids` of, a queued or running task; a sample also when
    /// one of its analyses is (``LIMSCore/LabRepository/queued(among:)`` answers both). `queued` is empty while
    /// the queue is disabled.
    static func markQueued(_ item: inout [String: JSONValue], _ object: any LabObject, queued: Set<String>) {
        switch object {
        case is Sample, is any AnalysisRecord, is Worksheet:
            item["is_queued"] = .bool(queued.contains(object.uid))
        default:
            break
        }
    }

    /// The listing of `portalType`: only objects the user may see, filtered, sorted and paged.
    func listing(_ portalType: PortalType, request: Request, context: QueueRequestContext) async throws -> Response {
        let payload = LimsPayload(fields: try LimsPayload.query(request))
        let limit = try payload.int("limit") ?? Self.defaultLimit
        guard (1...Self.maxLimit).contains(limit) else {
            throw QueueAPIError(.badRequest, "Field 'limit' must be in 1...\(Self.maxLimit)")
        }
        // senaite.jsonapi pages by `b_start` (the first item's index) as well as by `page`; `b_start` wins.
        let bStart = try payload.int("b_start")
        if let bStart, bStart < 0 { throw QueueAPIError(.badRequest, "Field 'b_start' must be 0 or more") }
        let requestedPage = try payload.int("page") ?? 1
        guard requestedPage >= 1 else { throw QueueAPIError(.badRequest, "Field 'page' must be 1 or more") }
        let offset = bStart ?? (requestedPage > Int.max / limit ? Int.max / 2 : (requestedPage - 1) * limit)
        // (At most Int.max: `b_start` 2^63-1 with `limit` 1 overflowed here and stopped the process; a fuzz script.)
        let page = bStart.map { min($0 / limit, Int.max - 1) + 1 } ?? requestedPage
        // `q`: senaite.jsonapi's text search (samples and worksheets: by words of the id and client sample id,
        // ``LIMSCore/CatalogQuery/text``; other types: the id contains it). A search without `sort_on` is answered
        // newest first, as the web lists' search: read in the search index's order, its page costs the same at any
        // size, where sorted by path it costs what it matches.
        let text = try payload.string("q").flatMap { $0.trimmingCharacters(in: .whitespaces).isEmpty ? nil : $0 }
        // An empty `sort_on` or `sort_order` is the default, as an empty filter is no filter (a form's blank select).
        func nonEmpty(_ key: String) throws -> String? { try payload.string(key).flatMap { $0.isEmpty ? nil : $0 } }
        let sortOnGiven = try nonEmpty("sort_on") != nil
        let sortGiven = try nonEmpty("sort") != nil
        let sortField = sortOnGiven || !sortGiven ? "sort_on" : "sort"
        let requestedSort = try nonEmpty(sortField)
        let searchOrder = text != nil && requestedSort == nil
        let sortOn = requestedSort ?? (searchOrder ? "created" : "path")
        guard ["id", "created", "path"].contains(sortOn) else {
            throw QueueAPIError(.badRequest, "Field '\(sortField)' must be one of id, created, path")
        }
        let sortOrder = try nonEmpty("sort_order") ?? (searchOrder ? "descending" : "ascending")
        guard ["ascending", "descending", "asc", "desc", "reverse"].contains(sortOrder) else {
            throw QueueAPIError(.badRequest, "Field 'sort_order' must be ascending or descending")
        }
        // An empty filter (`review_state=`) is no filter, as in senaite.jsonapi.
        func filter(_ key: String) throws -> Set<String>? { try payload.stringList(key).flatMap { $0.isEmpty ? nil : Set($0) } }
        let states = try filter("review_state")
        let services = try filter("getServiceUID")
        let clients = try filter("getClientUID")
        let analysisTypes: Set<PortalType> = [.analysis, .duplicateAnalysis, .referenceAnalysis]
        if services != nil, !analysisTypes.contains(portalType) {
            throw QueueAPIError(.badRequest, "Field 'getServiceUID' applies to analyses, not \(portalType.rawValue)")
        }
        if clients != nil, ![.sample, .contact].contains(portalType) {
            throw QueueAPIError(.badRequest, "Field 'getClientUID' applies to AnalysisRequest and Contact, not \(portalType.rawValue)")
        }

        guard let user = try await repository.user(named: context.userID ?? "") else {
            throw QueueAPIError(.unauthorized, "Authentication required")
        }
        let sort = CatalogQuery.SortField(rawValue: sortOn) ?? .path
        let query = CatalogQuery(portalType: portalType, reviewStates: states, clientUIDs: clients, serviceUIDs: services,
                                 text: text, sortOn: sort, descending: ["descending", "desc", "reverse"].contains(sortOrder),
                                 limit: limit, offset: offset)
        let result = try await repository.catalog(query, visibleTo: user)
        let count = result.total
        // A lower-bound total (more than `count` match) makes `pages` the pages known to exist: `next` stays right.
        let pages = result.pageCount(pageSize: limit)
        let pageUIDs = result.uids
        let pageItems = try await repository.read { state, reader -> [any LabObject] in
            try await reader.load(pageUIDs, into: &state)
            return pageUIDs.compactMap { state.peekObject($0) }
        }
        let base = Self.apiURL(request)
        let url = base + "/" + portalType.rawValue
        // By b_start (any offset): more items exist past this page. By page: a later page exists.
        let hasNext = bStart == nil ? page < pages
            : pageUIDs.count == limit && (offset + limit < count || !result.totalIsExact)
        var queued: Set<String> = []
        if [.sample, .analysis, .worksheet].contains(portalType), try await actions.queueStatus().isEnabled {
            queued = try await repository.queued(among: pageUIDs)
        }
        return LimsResponse.make([
            "success": .bool(true),
            "count": .int(count),
            "count_exact": .bool(result.totalIsExact),
            "pagesize": .int(limit),
            "page": .int(page),
            "pages": .int(pages),
            "items": .array(pageItems.map { object in
                var item = LabObjectJSON.item(object, baseURL: base)
                Self.markQueued(&item, object, queued: queued)
                return .object(item)
            }),
            "next": hasNext ? .string(Self.pageURL(url, request: request, page: page + 1, bStart: bStart.map { $0 + limit })) : .null,
            // Paging by b_start, `previous` starts one page earlier, and never past the last item.
            "previous": offset > 0 ? .string(Self.pageURL(url, request: request, page: min(page - 1, pages),
                                                          bStart: bStart.map { max(0, min($0 - limit, count - limit)) })) : .null,
            "url": .string(url),
        ])
    }

    /// `query` as a valid percent-encoded query: every byte outside RFC 3986's query characters, and every `%` not
    /// starting an escape, percent-encoded; valid escapes kept. Setting a query with such bytes (`review_state[]=x`,
    /// sent unencoded by some clients) on `URLComponents` stopped the process (a fatal error in Foundation; a tryout).
    static func validQuery(_ query: String) -> String {
        let bytes = Array(query.utf8)
        func isHex(_ byte: UInt8) -> Bool {
            (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(byte)
                || (UInt8(ascii: "A")...UInt8(ascii: "F")).contains(byte)
        }
        var encoded = ""
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "%"), index + 2 < bytes.count, isHex(bytes[index + 1]), isHex(bytes[index + 2]) {
                encoded.append("%")
            } else if byte < 128, byte != UInt8(ascii: "%"), CharacterSet.urlQueryAllowed.contains(Unicode.Scalar(byte)) {
                encoded.append(Character(Unicode.Scalar(byte)))
            } else {
                encoded += String(format: "%%%02X", byte)
            }
            index += 1
        }
        return encoded
    }

    /// `url` with the request's query and its position replaced: `b_start` when the request paged by it, else `page`.
    static func pageURL(_ url: String, request: Request, page: Int, bStart: Int? = nil) -> String {
        var components = URLComponents()
        components.percentEncodedQuery = request.uri.query.map(Self.validQuery)
        var items = (components.queryItems ?? []).filter { $0.name != "page" && $0.name != "b_start" }
        if let bStart {
            items.append(URLQueryItem(name: "b_start", value: String(bStart)))
        } else {
            items.append(URLQueryItem(name: "page", value: String(page)))
        }
        components.queryItems = items
        return url + "?" + (components.percentEncodedQuery ?? "")
    }
}
