import Foundation
import Hummingbird
import LabActions
import LIMSCore
import LimsAPI
import QueueCore
import QueueServer

/// The "Add analyses" page of a worksheet (`/worksheets/<uid>/add`): the unassigned routine analyses of received
/// samples, filtered by a text (sample id, keyword or service title) and paged, with checkboxes; adding goes
/// through ``LimsAPI/LabActions/addAnalyses(userID:worksheetUID:analysisUIDs:slots:)`` (queued while the queue is
/// ready), so a worksheet made without a template can get analyses from the pages.
///
/// Source: senaite.core worksheet "Add analyses" view (`add_analyses`); issue 13, finding 13.
extension WebUI {
    /// Rows per page of the Add analyses page. Default: 50.
    static let addAnalysesPageSize = 50

    /// `GET /worksheets/<uid>/add[?filter=TEXT&page=N]`: the unassigned routine analyses (a catalog query paged in
    /// the database; the filter matches the sample id or the keyword in the analysis's path), queued ones left out.
    @Sendable func addAnalysesPage(_ request: Request, context: QueueRequestContext) async throws -> Response {
        let (user, setup) = try await labStaff(context, for: "Add analyses")
        let uid = context.parameters.get("uid") ?? ""
        let worksheetState = try await repository.read { state, reader -> LabState in
            try await reader.load([uid], into: &state)
            return state
        }
        guard let worksheet = worksheetState.worksheets.peek(uid) else { throw WebError.notFound("No worksheet with uid \(uid).") }
        guard setup.mayManageWorksheets(user) else {
            throw WebError.forbidden("Only lab managers may manage worksheets (restricted in the lab settings); \(user.userid) is not one.")
        }
        let filter = (FormQuery(request).get("filter") ?? "").trimmingCharacters(in: .whitespaces)
        let size = Self.addAnalysesPageSize
        let query = CatalogQuery(portalType: .analysis, reviewStates: [ReviewState.unassigned], pathText: filter, sortOn: .path,
                                 limit: size)
        let (result, page) = try await catalogPage(query, requested: Self.requestedPage(request), user: user)
        let uids = result.uids
        let queued = try await queuedUIDs(among: uids)
        let state = try await repository.read { state, reader -> LabState in
            try await reader.load(uids, into: &state)
            return state
        }
        let candidates = uids.compactMap { state.analyses.peek($0) }.filter { $0.worksheetUID == nil && !queued.contains($0.uid) }
        let encoded = filter.isEmpty ? "" : "filter=" + WebForm.percentEncode(filter) + "&"
        let rows: [[String: Any]] = candidates.map { analysis in
            [
                "uid": analysis.uid, "label": state.label(analysis.uid), "keyword": analysis.keyword,
                "title": state.analysisServices[analysis.serviceUID]?.title ?? analysis.keyword,
                "sampleID": analysis.sampleUID.flatMap { state.samples.peek($0)?.id } ?? "",
            ]
        }
        let data: [String: Any] = [
            "uid": uid, "id": worksheet.id, "filter": filter, "rows": rows, "total": result.totalText,
            "pages": Self.pages(total: result.total, pageSize: size, current: page, exact: result.totalIsExact) { "/worksheets/\(uid)/add?\(encoded)page=\($0)" },
        ]
        let chrome = await chrome(request, user: user, state: setup, tab: "worksheets")
        return renderer.page("add_analyses", title: "Add analyses to \(worksheet.id)", chrome: chrome, data: data)
    }

    /// `POST /worksheets/<uid>/add` {uids}: adds the selected analyses and opens the worksheet.
    @Sendable func addAnalysesAction(_ request: Request, context: QueueRequestContext) async throws -> Response {
        let (user, _) = try await labStaff(context, for: "Add analyses")
        let uid = context.parameters.get("uid") ?? ""
        let state = try await repository.read { state, reader -> LabState in
            try await reader.load([uid], into: &state)
            return state
        }
        guard state.worksheets.peek(uid) != nil else { throw WebError.notFound("No worksheet with uid \(uid).") }
        var request = request
        let form = try await WebForm.read(&request, context: context)
        var seen: Set<String> = []
        let selected = form.values("uids").filter { !$0.isEmpty && seen.insert($0).inserted }
        guard !selected.isEmpty else { return Self.redirect("/worksheets/\(uid)/add", message: "Select at least one analysis first.", error: true) }
        do {
            let outcome = try await actions.addAnalyses(userID: user.userid, worksheetUID: uid, analysisUIDs: selected, slots: nil)
            let added = outcome.items.filter(\.success).count
            var message = outcome.queuedTask != nil ? "Add: " + Self.backgroundText(outcome.queuedTask?.uids.count ?? added)
                : "\(added) of \(selected.count) analyses added."
            let refusals = outcome.items.filter { !$0.success }
            if !refusals.isEmpty {
                message += " Refused: " + refusals.prefix(5).map { "\(outcome.state.label($0.uid)): \($0.message)" }.joined(separator: "; ")
            }
            return Self.redirect("/worksheets/\(uid)", message: message, error: !refusals.isEmpty)
        } catch {
            return Self.redirect("/worksheets/\(uid)/add", message: Self.actionErrorText(error), error: true)
        }
    }
}

/// Answers an HTML "page not found" for GET requests to unknown paths outside the JSON APIs (instead of the
/// router's JSON error), so a mistyped page URL shows a page with a way back. Source: issue 13, finding 13.
struct PageNotFoundMiddleware: RouterMiddleware {
    typealias Context = QueueRequestContext

    /// Path prefixes that answer JSON whatever happens.
    static let jsonPrefixes = ["/@@API/", "/senaite/@@API/", "/metrics", "/openapi.yaml", "/openapi.json"]

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError where error.status == .notFound {
            let path = request.uri.path
            guard request.method == .get || request.method == .head, !Self.jsonPrefixes.contains(where: { path.hasPrefix($0) }) else {
                throw error
            }
            throw WebError.notFound("There is no page at \(path.quotedPrefix()). Check the address, or start from the worksheets or samples.")
        }
    }
}
