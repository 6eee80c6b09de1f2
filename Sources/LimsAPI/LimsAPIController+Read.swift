import Foundation
import Hummingbird
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
        let name = try context.parameters.require("name")
        if let portalType = PortalType(rawValue: name) {
            return try await listing(portalType, request: request, context: context)
        }
        guard Self.isUID(name) else {
            throw QueueAPIError(.notFound, "'\(name)' is neither a portal type nor a uid")
        }
        let state = try await repository.load()
        let user = try Self.user(context.userID, in: state)
        guard let object = state.object(name),
              try await repository.search(type(of: object).portalType, visibleTo: user).contains(name)
        else { throw QueueAPIError(.notFound, "No object with uid \(name)") }
        let base = Self.apiURL(request)
        let queued = try await actions.queuedObjectUIDs()
        var item = Self.fullItem(object, state: state, baseURL: base)
        Self.markQueued(&item, object, queued: queued, state: state)
        if var children = item["Analyses"]?.arrayValue {
            for index in children.indices {
                if var child = children[index].objectValue, let uid = child["uid"]?.stringValue, let analysis = state.object(uid) {
                    Self.markQueued(&child, analysis, queued: queued, state: state)
                    children[index] = .object(child)
                }
            }
            item["Analyses"] = .array(children)
        }
        return Self.items([item], url: base + "/" + name)
    }

    /// Sets `is_queued` on items of samples, analyses and worksheets (senaite.queue `is_queued`, reference 0 and
    /// 1.10): the object is the context of, or among the `uids` of, a queued or running task; a sample also when
    /// one of its analyses is. `queued` is empty while the queue is disabled.
    static func markQueued(_ item: inout [String: JSONValue], _ object: any LabObject, queued: Set<String>, state: LabState) {
        switch object {
        case let sample as Sample:
            item["is_queued"] = .bool(queued.contains(sample.uid) || state.analyses(ofSample: sample.uid).contains { queued.contains($0.uid) })
        case is any AnalysisRecord, is Worksheet:
            item["is_queued"] = .bool(queued.contains(object.uid))
        default:
            break
        }
    }

    /// The listing of `portalType`: only objects the user may see, filtered, sorted and paged.
    func listing(_ portalType: PortalType, request: Request, context: QueueRequestContext) async throws -> Response {
        let payload = LimsPayload(fields: LimsPayload.query(request))
        let limit = try payload.int("limit") ?? Self.defaultLimit
        guard (1...Self.maxLimit).contains(limit) else {
            throw QueueAPIError(.badRequest, "Field 'limit' must be in 1...\(Self.maxLimit)")
        }
        let page = try payload.int("page") ?? 1
        guard page >= 1 else { throw QueueAPIError(.badRequest, "Field 'page' must be 1 or more") }
        let sortField = payload.has("sort_on") ? "sort_on" : "sort"
        let sortOn = try payload.string(sortField) ?? "path"
        guard ["id", "created", "path"].contains(sortOn) else {
            throw QueueAPIError(.badRequest, "Field '\(sortField)' must be one of id, created, path")
        }
        let sortOrder = try payload.string("sort_order") ?? "ascending"
        guard ["ascending", "descending", "asc", "desc", "reverse"].contains(sortOrder) else {
            throw QueueAPIError(.badRequest, "Field 'sort_order' must be ascending or descending")
        }
        let states = try payload.stringList("review_state").map(Set.init)
        let services = try payload.stringList("getServiceUID").map(Set.init)
        let clients = try payload.stringList("getClientUID").map(Set.init)
        let analysisTypes: Set<PortalType> = [.analysis, .duplicateAnalysis, .referenceAnalysis]
        if services != nil, !analysisTypes.contains(portalType) {
            throw QueueAPIError(.badRequest, "Field 'getServiceUID' applies to analyses, not \(portalType.rawValue)")
        }
        if clients != nil, ![.sample, .contact].contains(portalType) {
            throw QueueAPIError(.badRequest, "Field 'getClientUID' applies to AnalysisRequest and Contact, not \(portalType.rawValue)")
        }

        let state = try await repository.load()
        let user = try Self.user(context.userID, in: state)
        var objects = try await repository.search(portalType, visibleTo: user).compactMap { state.object($0) }
        if let states {
            objects = objects.filter { object in object.workflowState.map { states.contains($0) } ?? false }
        }
        if let services {
            objects = objects.filter { object in (object as? any AnalysisRecord).map { services.contains($0.serviceUID) } ?? false }
        }
        if let clients {
            objects = objects.filter { object in LabObjectJSON.clientUID(of: object).map { clients.contains($0) } ?? false }
        }
        objects.sort { lhs, rhs in
            switch sortOn {
            case "id": (lhs.id, lhs.path) < (rhs.id, rhs.path)
            case "created": (lhs.created, lhs.path) < (rhs.created, rhs.path)
            default: lhs.path < rhs.path
            }
        }
        if ["descending", "desc", "reverse"].contains(sortOrder) { objects.reverse() }

        let count = objects.count
        let pages = max(1, (count + limit - 1) / limit)
        let start = min(count, min(page - 1, count) * limit) // no overflow for huge pages
        let pageItems = objects[start..<min(count, start + limit)]
        let base = Self.apiURL(request)
        let url = base + "/" + portalType.rawValue
        let queued = [.sample, .analysis, .worksheet].contains(portalType) ? try await actions.queuedObjectUIDs() : []
        return LimsResponse.make([
            "success": .bool(true),
            "count": .int(count),
            "pagesize": .int(limit),
            "page": .int(page),
            "pages": .int(pages),
            "items": .array(pageItems.map { object in
                var item = LabObjectJSON.item(object, baseURL: base)
                Self.markQueued(&item, object, queued: queued, state: state)
                return .object(item)
            }),
            "next": page < pages ? .string(Self.pageURL(url, request: request, page: page + 1)) : .null,
            "previous": page > 1 ? .string(Self.pageURL(url, request: request, page: min(page - 1, pages))) : .null,
            "url": .string(url),
        ])
    }

    /// `url` with the request's query and `page` replaced.
    static func pageURL(_ url: String, request: Request, page: Int) -> String {
        var components = URLComponents()
        components.percentEncodedQuery = request.uri.query
        var items = (components.queryItems ?? []).filter { $0.name != "page" }
        items.append(URLQueryItem(name: "page", value: String(page)))
        components.queryItems = items
        return url + "?" + (components.percentEncodedQuery ?? "")
    }
}
