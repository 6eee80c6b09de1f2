import Foundation
import Hummingbird
import LabActions
import LIMSCore
import QueueCore
import QueueServer

/// Samples: the list and the sample page with its analyses and senaite.queue's queued notice. Each user sees the
/// samples the `allowedRolesAndUsers` rule lets them see (lab staff all, client users their client's).
/// Source: senaite.core samples listing and sample view, senaite.queue listing adapter and viewlet, reference 1.9-1.10.
extension WebUI {
    /// Rows per page of the samples list.
    static let samplesPageSize = 50

    /// The review states the samples list filters on.
    static let sampleStates = [ReviewState.sampleDue, ReviewState.sampleReceived, ReviewState.toBeVerified, ReviewState.verified]

    /// `GET /samples[?page=N&q=TEXT&state=STATE&client=UID&sort=created|id&order=asc|desc]`: newest first unless the
    /// column headers sort it by id or date (``ListSort``), searched by id, client sample id and client (name or code)
    /// (each word of `q` starts a word of either, through the catalog's search index), filtered by review state and
    /// client, paged in the database; queued samples shown as Queued with a spinner.
    @Sendable func samplesList(_ request: Request, context: QueueRequestContext) async throws -> Response {
        let (user, setup) = try await signedIn(context)
        let parameters = FormQuery(request)
        let text = parameters.get("q").map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
        let reviewState = parameters.get("state").flatMap { $0.isEmpty ? nil : $0 }
        let client = parameters.get("client").flatMap { $0.isEmpty ? nil : $0 }
        let size = Self.samplesPageSize
        let sort = ListSort(parameters)
        let query = CatalogQuery(portalType: .sample, reviewStates: reviewState.map { [$0] }, clientUIDs: client.map { [$0] },
                                 text: text, sortOn: sort.field, descending: sort.descending, limit: size)
        let (result, page) = try await catalogPage(query, requested: Self.requestedPage(request), user: user)
        let uids = result.uids
        let state = try await repository.read { state, reader -> LabState in
            try await reader.load(uids, into: &state)
            return state
        }
        let counts = try await repository.analysisCounts(ofSamples: uids)
        let queued = try await queuedUIDs(among: uids)
        let rows: [[String: Any]] = uids.compactMap { state.samples.peek($0) }.map { sample in
            [
                "uid": sample.uid, "id": sample.id, "clientSampleID": sample.clientSampleID ?? "",
                "client": state.clients.peek(sample.clientUID)?.name ?? "",
                "sampleType": state.sampleTypes[sample.sampleTypeUID]?.title ?? "",
                "count": counts[sample.uid] ?? 0, "created": Self.dateText(sample.created),
                "state": sample.reviewState, "queued": queued.contains(sample.uid),
            ]
        }
        let filterItems = [("q", text), ("state", reviewState ?? ""), ("client", client ?? "")]
            .filter { !$0.1.isEmpty }.map { URLQueryItem(name: $0.0, value: $0.1) }
        var filters = URLComponents()
        filters.queryItems = filterItems + sort.queryItems
        let suffix = filters.percentEncodedQuery.map { "&" + $0 } ?? ""
        let clients = try await repository.catalog(CatalogQuery(portalType: .client, limit: 500), visibleTo: user).uids
        let clientNames = try await repository.read { state, reader -> [(String, String)] in
            try await reader.load(clients, into: &state)
            return clients.compactMap { uid in state.clients.peek(uid).map { (uid, $0.name) } }.sorted { $0.1 < $1.1 }
        }
        var data: [String: Any] = [
            "rows": rows, "total": result.totalText, "q": text, "state": reviewState ?? "",
            "stateOptions": Self.sampleStates.map { ["value": $0, "label": $0.replacingOccurrences(of: "_", with: " "), "selected": $0 == reviewState] },
            "clientOptions": clientNames.map { ["value": $0.0, "label": $0.1, "selected": $0.0 == client] },
            "pages": Self.pages(total: result.total, pageSize: size, current: page, exact: result.totalIsExact) { "/samples?page=\($0)\(suffix)" },
        ]
        data.merge(sort.templateData(path: "/samples", filters: filterItems)) { $1 }
        let chrome = await chrome(request, user: user, state: setup, tab: "samples")
        return renderer.page("samples", title: "Samples", chrome: chrome, data: data)
    }

    /// `GET /samples/<uid>`: the sample, its analyses, and "N analyses are being processed in background" while any
    /// of them is queued or running.
    @Sendable func samplePage(_ request: Request, context: QueueRequestContext) async throws -> Response {
        let (user, _) = try await signedIn(context)
        let uid = context.parameters.get("uid") ?? ""
        let state = try await repository.read { state, reader -> LabState in
            try await reader.loadClosure(of: [uid], into: &state)
            // The sample's contact, whose name the page shows (a child of the client, outside the sample's closure).
            if let contact = state.samples.peek(uid)?.contactUID { try await reader.load([contact], into: &state) }
            return state
        }
        guard let sample = state.samples.peek(uid), state.isVisible(uid, to: user) else {
            throw WebError.notFound("No sample with uid \(uid).")
        }
        let analyses = state.analyses(ofSample: uid)
        let queued = try await queuedUIDs(among: [uid] + analyses.map(\.uid))
        let rows: [[String: Any]] = analyses.map { analysis in
            var row: [String: Any] = [
                "uid": analysis.uid, "title": state.analysisServices[analysis.serviceUID]?.title ?? analysis.keyword,
                "keyword": analysis.keyword, "result": analysis.result ?? "", "state": analysis.reviewState,
                "analyst": analysis.analyst ?? "", "queued": queued.contains(analysis.uid),
            ]
            if let worksheet = analysis.worksheetUID.flatMap({ state.worksheets.peek($0) }) {
                row["worksheetUID"] = worksheet.uid
                row["worksheetID"] = worksheet.id
            }
            return row
        }
        let count = analyses.filter { queued.contains($0.uid) }.count
        var data: [String: Any] = [
            "uid": uid, "id": sample.id, "state": sample.reviewState, "client": state.clients.peek(sample.clientUID)?.name ?? "",
            "contact": state.contacts.peek(sample.contactUID)?.fullname ?? "",
            "sampleType": state.sampleTypes[sample.sampleTypeUID]?.title ?? "", "priority": sample.priority,
            "created": Self.dateText(sample.created), "rows": rows,
        ]
        if let clientSampleID = sample.clientSampleID { data["clientSampleID"] = clientSampleID }
        if count > 0 {
            data["queuedCount"] = count
            data["queuedText"] = Self.backgroundText(count)
        }
        let chrome = await chrome(request, user: user, state: state, tab: "samples",
                                  refreshSeconds: count > 0 ? Self.backgroundRefreshSeconds : nil)
        return renderer.page("sample", title: "Sample \(sample.id)", chrome: chrome, data: data)
    }
}
