import Foundation
import Hummingbird
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

    /// SENAITE's `is_worksheet_management_allowed`: the Manage Worksheets permission, and with
    /// RestrictWorksheetManagement a lab manager.
    static func mayManageWorksheets(_ user: User, in state: LabState) -> Bool {
        state.hasPermission(.manageWorksheets, on: "", user: user)
            && (!state.settings.restrictWorksheetManagement || user.isLabManager)
    }

    /// `GET /worksheets/<uid>/add[?filter=TEXT&page=N]`.
    @Sendable func addAnalysesPage(_ request: Request, context: QueueRequestContext) async throws -> Response {
        let (user, state) = try await labStaff(context, for: "Add analyses")
        let uid = context.parameters.get("uid") ?? ""
        guard let worksheet = state.worksheets[uid] else { throw WebError.notFound("No worksheet with uid \(uid).") }
        guard Self.mayManageWorksheets(user, in: state) else {
            throw WebError.forbidden("Only lab managers may manage worksheets (restricted in the lab settings); \(user.userid) is not one.")
        }
        let filter = (request.uri.queryParameters.get("filter") ?? "").trimmingCharacters(in: .whitespaces)
        let queued = try await queuedUIDs()
        let candidates = state.analyses.values.filter { analysis in
            guard analysis.reviewState == ReviewState.unassigned, analysis.worksheetUID == nil, !queued.contains(analysis.uid),
                  let sample = analysis.sampleUID.flatMap({ state.samples[$0] }), sample.dateReceived != nil else { return false }
            guard !filter.isEmpty else { return true }
            let title = state.analysisServices[analysis.serviceUID]?.title ?? ""
            return [sample.id, analysis.keyword, title].contains { $0.localizedCaseInsensitiveContains(filter) }
        }.sorted { (state.label($0.uid)) < (state.label($1.uid)) }
        let pageCount = max(1, (candidates.count + Self.addAnalysesPageSize - 1) / Self.addAnalysesPageSize)
        let page = min(max(1, Int(request.uri.queryParameters.get("page") ?? "") ?? 1), pageCount)
        let query = filter.isEmpty ? "" : "filter=" + WebForm.percentEncode(filter) + "&"
        let rows: [[String: Any]] = candidates.dropFirst((page - 1) * Self.addAnalysesPageSize).prefix(Self.addAnalysesPageSize).map { analysis in
            [
                "uid": analysis.uid, "label": state.label(analysis.uid), "keyword": analysis.keyword,
                "title": state.analysisServices[analysis.serviceUID]?.title ?? analysis.keyword,
                "sampleID": analysis.sampleUID.flatMap { state.samples[$0]?.id } ?? "",
            ]
        }
        let data: [String: Any] = [
            "uid": uid, "id": worksheet.id, "filter": filter, "rows": rows, "total": candidates.count,
            "pages": Self.pages(total: candidates.count, pageSize: Self.addAnalysesPageSize, current: page) {
                "/worksheets/\(uid)/add?\(query)page=\($0)"
            },
        ]
        let chrome = await chrome(request, user: user, state: state, tab: "worksheets")
        return renderer.page("add_analyses", title: "Add analyses to \(worksheet.id)", chrome: chrome, data: data)
    }

    /// `POST /worksheets/<uid>/add` {uids}: adds the selected analyses and opens the worksheet.
    @Sendable func addAnalysesAction(_ request: Request, context: QueueRequestContext) async throws -> Response {
        let (user, state) = try await labStaff(context, for: "Add analyses")
        let uid = context.parameters.get("uid") ?? ""
        guard state.worksheets[uid] != nil else { throw WebError.notFound("No worksheet with uid \(uid).") }
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
    static let jsonPrefixes = ["/@@API/", "/senaite/@@API/", "/metrics", "/openapi.yaml"]

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError where error.status == .notFound {
            let path = request.uri.path
            guard request.method == .get || request.method == .head, !Self.jsonPrefixes.contains(where: { path.hasPrefix($0) }) else {
                throw error
            }
            throw WebError.notFound("There is no page at \(path). Check the address, or start from the worksheets or samples.")
        }
    }
}
