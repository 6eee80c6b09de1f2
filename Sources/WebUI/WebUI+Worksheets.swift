import Foundation
import Hummingbird
import LabActions
import LIMSCore
import LimsAPI
import QueueCore
import QueueServer

/// Worksheets: the list with the Add worksheet form, and the worksheet page with result entry and the workflow
/// buttons. Every action goes through ``LimsAPI/LabActions``, the code the JSON API runs, so queueing, guards and
/// permissions are the same. Lab staff only (roles with site-wide View other than Owner/Client).
/// Source: senaite.core worksheets, senaite.queue listing adapters and worksheet viewlet, reference 1.9-1.10.
extension WebUI {
    /// Seconds between reloads of a page with work in the background.
    static let backgroundRefreshSeconds = 3

    /// Rows per page of the worksheets list.
    static let worksheetsPageSize = 50

    /// The review states the worksheets list shows unless filtered (removed worksheets are hidden).
    static let listedWorksheetStates: Set<String> = [ReviewState.open, ReviewState.toBeVerified, ReviewState.verified]

    /// Buttons of the worksheet page and the workflow action each runs.
    static let worksheetButtons = Set(LimsTaskKind.queuedWorksheetActions)

    /// Of `uids`, the objects in queued or running tasks (samples: also with such an analysis) while the queue is
    /// enabled (ready or resuming); empty otherwise. One query.
    func queuedUIDs(among uids: [String]) async throws -> Set<String> {
        guard try await actions.queueStatus().isEnabled else { return [] }
        return try await repository.queued(among: uids)
    }

    /// The signed-in lab staff member. - Throws: 403 for other users.
    func labStaff(_ context: QueueRequestContext, for what: String) async throws -> (user: User, state: LabState) {
        let (user, state) = try await signedIn(context)
        guard Self.isLabStaff(user, in: state) else {
            throw WebError.forbidden("\(what) is for lab staff; \(user.userid) is not.")
        }
        return (user, state)
    }

    /// `GET /worksheets`: the list (newest first unless its column headers sort it by id or date, ``ListSort``; removed
    /// worksheets hidden) and the Add worksheet form.
    @Sendable func worksheetsList(_ request: Request, context: QueueRequestContext) async throws -> Response {
        let (user, state) = try await labStaff(context, for: "The worksheets list")
        let parameters = FormQuery(request)
        let text = parameters.get("q").map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
        let reviewState = parameters.get("state").flatMap { $0.isEmpty ? nil : $0 }
        let analyst = parameters.get("mine") == "1" ? user.userid : parameters.get("analyst").flatMap { $0.isEmpty ? nil : $0 }
        let size = Self.worksheetsPageSize
        let states = reviewState.map { Set([$0]) } ?? Self.listedWorksheetStates
        let sort = ListSort(parameters)
        let query = CatalogQuery(portalType: .worksheet, reviewStates: states, analyst: analyst, text: text, sortOn: sort.field,
                                 descending: sort.descending, limit: size)
        let (result, page) = try await catalogPage(query, requested: Self.requestedPage(request), user: user)
        let uids = result.uids
        let listed = try await repository.read { state, reader -> LabState in
            try await reader.load(uids, into: &state)
            return state
        }
        let queued = try await queuedUIDs(among: uids)
        let worksheets = uids.compactMap { listed.worksheets.peek($0) }
        let rows: [[String: Any]] = worksheets.map { worksheet in
            [
                "uid": worksheet.uid, "id": worksheet.id, "analyst": Self.userLabel(worksheet.analyst, in: state),
                "template": worksheet.templateUID.flatMap { state.worksheetTemplates[$0]?.title } ?? "",
                "instrument": worksheet.instrumentUID.flatMap { state.instruments[$0]?.title } ?? "",
                "count": worksheet.layout.count, "created": Self.dateText(worksheet.created),
                "state": worksheet.reviewState, "queued": queued.contains(worksheet.uid),
            ]
        }
        let filterItems = [("q", text), ("state", reviewState ?? ""), ("analyst", parameters.get("mine") == "1" ? "" : analyst ?? ""),
                           ("mine", parameters.get("mine") == "1" ? "1" : "")]
            .filter { !$0.1.isEmpty }.map { URLQueryItem(name: $0.0, value: $0.1) }
        var filters = URLComponents()
        filters.queryItems = filterItems + sort.queryItems
        let suffix = filters.percentEncodedQuery.map { "&" + $0 } ?? ""
        let pages = Self.pages(total: result.total, pageSize: size, current: page, exact: result.totalIsExact) { "/worksheets?page=\($0)\(suffix)" }
        let canAdd = state.mayManageWorksheets(user)
        let analysts = state.users.values.filter { !$0.roles.isDisjoint(with: [.analyst, .labManager, .manager]) }
            .sorted { $0.userid < $1.userid }
        var data: [String: Any] = [
            "rows": rows, "canAdd": canAdd, "pages": pages, "total": result.totalText, "q": text, "mine": parameters.get("mine") == "1",
            "stateOptions": [ReviewState.open, ReviewState.toBeVerified, ReviewState.verified, ReviewState.removed].map {
                ["value": $0, "label": $0.replacingOccurrences(of: "_", with: " "), "selected": $0 == reviewState]
            },
            "analystOptions": analysts.map {
                ["value": $0.userid, "label": Self.userLabel($0.userid, in: state), "selected": parameters.get("mine") != "1" && $0.userid == analyst]
            },
            "analysts": analysts.map { ["userid": $0.userid, "label": Self.userLabel($0.userid, in: state), "selected": $0.userid == user.userid] },
            "templates": state.worksheetTemplates.values.sorted { $0.title < $1.title }.map { ["uid": $0.uid, "title": $0.title] },
            "instruments": state.instruments.values.sorted { $0.title < $1.title }.map { ["uid": $0.uid, "title": $0.title] },
        ]
        data.merge(sort.templateData(path: "/worksheets", filters: filterItems)) { $1 }
        let refresh = rows.contains { $0["queued"] as? Bool == true } ? Self.backgroundRefreshSeconds : nil
        let chrome = await chrome(request, user: user, state: state, tab: "worksheets", refreshSeconds: refresh)
        return renderer.page("worksheets", title: "Worksheets", chrome: chrome, data: data)
    }

    /// `POST /worksheets` {action: add, analyst, template?, instrument?} creates a worksheet (its template's routine
    /// analyses are assigned in background while the queue is ready) and opens it; {action: remove, uids} removes
    /// the selected empty worksheets.
    @Sendable func worksheetsAction(_ request: Request, context: QueueRequestContext) async throws -> Response {
        let (user, _) = try await labStaff(context, for: "Worksheets")
        var request = request
        let form = try await WebForm.read(&request, context: context)
        switch form.value("action") {
        case "add":
            do {
                let outcome = try await actions.createWorksheet(userID: user.userid, analyst: form.nonEmpty("analyst") ?? "",
                                                                templateUID: form.nonEmpty("template"),
                                                                instrumentUID: form.nonEmpty("instrument"))
                let id = outcome.state.worksheets[outcome.worksheetUID]?.id ?? outcome.worksheetUID
                var message = "Worksheet \(id) created."
                if let task = outcome.queuedTask {
                    message += " \(task.uids.count) analyses are being assigned in background."
                } else if let application = outcome.application {
                    message += " \(application.assigned.count) routine analyses assigned."
                }
                return Self.redirect("/worksheets/\(outcome.worksheetUID)", message: message)
            } catch {
                return Self.redirect("/worksheets", message: Self.actionErrorText(error), error: true)
            }
        case "remove":
            let selected = form.values("uids")
            guard !selected.isEmpty else { return Self.redirect("/worksheets", message: "Select at least one worksheet first.", error: true) }
            do {
                let outcome = try await actions.workflowAction(userID: user.userid, action: "remove", uids: selected, contextUID: nil)
                return Self.redirect("/worksheets", message: Self.outcomeText("remove", outcome), error: !outcome.success)
            } catch {
                return Self.redirect("/worksheets", message: Self.actionErrorText(error), error: true)
            }
        default:
            throw WebError.badRequest("Field 'action' must be add or remove.")
        }
    }

    /// `GET /worksheets/<uid>`: the layout by position, each analysis's state and result, the queued notice.
    @Sendable func worksheetPage(_ request: Request, context: QueueRequestContext) async throws -> Response {
        let (user, _) = try await labStaff(context, for: "Worksheets")
        let uid = context.parameters.get("uid") ?? ""
        let state = try await repository.read { state, reader -> LabState in
            try await reader.loadClosure(of: [uid], into: &state)
            return state
        }
        guard let worksheet = state.worksheets.peek(uid) else { throw WebError.notFound("No worksheet with uid \(uid).") }
        let queued = try await queuedUIDs(among: [uid] + worksheet.layout.map(\.analysisUID))
        // senaite.queue's worksheet viewlet: the distinct uids of the worksheet's queued and running tasks.
        var inBackground: Set<String> = []
        if try await actions.queueStatus().isEnabled {
            for task in try await queue.tasks(for: uid, name: nil) where task.status != .failed && task.contextUID == uid {
                inBackground.formUnion(task.uids)
            }
        }
        let worksheetQueued = queued.contains(uid)
        let canEdit = state.hasPermission(.editResults, on: "", user: user)
        let rows: [[String: Any]] = worksheet.layout.sorted { ($0.position, $0.analysisUID) < ($1.position, $1.analysisUID) }.compactMap { slot in
            guard let analysis = state.analysisRecord(slot.analysisUID) else { return nil }
            let isQueued = worksheetQueued || queued.contains(analysis.uid)
            let open = [ReviewState.unassigned, ReviewState.assigned].contains(analysis.reviewState)
            var row: [String: Any] = [
                "uid": analysis.uid, "position": slot.position, "type": Self.slotLabel(slot.type),
                "title": state.analysisServices[analysis.serviceUID]?.title ?? analysis.keyword, "keyword": analysis.keyword,
                "result": analysis.result ?? "", "state": analysis.reviewState, "analyst": analysis.analyst ?? "",
                "queued": isQueued, "disabled": isQueued, "editable": !isQueued && open && canEdit,
                "label": state.label(analysis.uid),
                "container": state.referenceSamples[slot.containerUID]?.id ?? state.samples[slot.containerUID]?.id ?? "",
            ]
            if let sample = analysis.sampleUID.flatMap({ state.samples[$0] }) {
                row["sampleUID"] = sample.uid
                row["sampleID"] = sample.id
            }
            return row
        }
        var data: [String: Any] = [
            "uid": uid, "id": worksheet.id, "state": worksheet.reviewState,
            "analyst": Self.userLabel(worksheet.analyst, in: state), "created": Self.dateText(worksheet.created), "rows": rows,
        ]
        data["canAddAnalyses"] = worksheet.reviewState == ReviewState.open && state.mayManageWorksheets(user)
        if let title = worksheet.templateUID.flatMap({ state.worksheetTemplates[$0]?.title }) { data["template"] = title }
        if let title = worksheet.instrumentUID.flatMap({ state.instruments[$0]?.title }) { data["instrument"] = title }
        if !inBackground.isEmpty {
            data["queuedCount"] = inBackground.count
            data["queuedText"] = Self.backgroundText(inBackground.count)
        }
        let refresh = inBackground.isEmpty && !worksheetQueued ? nil : Self.backgroundRefreshSeconds
        let chrome = await chrome(request, user: user, state: state, tab: "worksheets", refreshSeconds: refresh)
        return renderer.page("worksheet", title: "Worksheet \(worksheet.id)", chrome: chrome, data: data)
    }

    /// `POST /worksheets/<uid>` {action, uids, result.<uid>...}: `save` stores every changed result; `submit` stores
    /// the results typed in the selected rows, then submits them; `verify`, `retract`, `reject`, `unassign` run on
    /// the selected analyses. While the queue is ready the worksheet actions are queued.
    @Sendable func worksheetAction(_ request: Request, context: QueueRequestContext) async throws -> Response {
        let (user, _) = try await labStaff(context, for: "Worksheets")
        let uid = context.parameters.get("uid") ?? ""
        let state = try await repository.read { state, reader -> LabState in
            try await reader.loadClosure(of: [uid], into: &state)
            return state
        }
        guard state.worksheets.peek(uid) != nil else { throw WebError.notFound("No worksheet with uid \(uid).") }
        var request = request
        let form = try await WebForm.read(&request, context: context)
        let back = "/worksheets/\(uid)"
        let action = form.value("action") ?? ""
        guard action == "save" || Self.worksheetButtons.contains(action) else {
            throw WebError.badRequest("Field 'action' must be save, submit, verify, retract, reject or unassign.")
        }
        var seen: Set<String> = []
        let selected = form.values("uids").filter { !$0.isEmpty && seen.insert($0).inserted }
        let typed = form.fields(prefixed: "result.")
        // Reject cannot be undone: it asks first (the confirmation repeats the request with confirm=yes).
        if action == "reject", !selected.isEmpty, form.value("confirm") != "yes" {
            let labels = selected.map { state.label($0) }
            let data: [String: Any] = [
                "heading": "Reject analyses", "action": back,
                "question": "Reject \(selected.count) analys\(selected.count == 1 ? "is" : "es")? A rejected analysis cannot be brought back.",
                "items": labels, "hasItems": true,
                "fields": [["name": "action", "value": "reject"]] + selected.map { ["name": "uids", "value": $0] },
                "button": "Yes, reject \(selected.count)", "buttonClass": "danger", "cancel": back,
            ]
            let chrome = await chrome(request, user: user, state: state, tab: "worksheets")
            return renderer.page("confirm", title: "Reject analyses", chrome: chrome, data: data)
        }
        // Results that changed: all rows for `save` (and for `submit` with no row selected, so that nothing typed
        // is lost), the selected rows for `submit`.
        let saveAll = action == "save" || (action == "submit" && selected.isEmpty)
        let candidates = saveAll ? Array(typed.keys) : action == "submit" ? selected : []
        var saved = 0
        var refused: [String] = []
        for analysisUID in candidates.sorted() {
            guard let text = typed[analysisUID]?.trimmingCharacters(in: .whitespaces),
                  let analysis = state.analysisRecord(analysisUID), text != (analysis.result ?? "") else { continue }
            do {
                try await actions.setResult(userID: user.userid, uid: analysisUID, result: text.isEmpty ? nil : text)
                saved += 1
            } catch {
                refused.append("\(state.label(analysisUID)): \(Self.actionErrorText(error))")
            }
        }
        if action == "save" {
            let message = "\(saved) result\(saved == 1 ? "" : "s") saved." + (refused.isEmpty ? "" : " Refused: " + refused.joined(separator: "; "))
            return Self.redirect(back, message: message, error: !refused.isEmpty)
        }
        guard !selected.isEmpty else {
            let kept = saved > 0 ? " \(saved) typed result\(saved == 1 ? " was" : "s were") saved." : ""
            let refusedText = refused.isEmpty ? "" : " Results refused: " + refused.joined(separator: "; ")
            return Self.redirect(back, message: "Select at least one analysis first." + kept + refusedText, error: true)
        }
        let prefix = saved > 0 ? "\(saved) result\(saved == 1 ? "" : "s") saved. " : ""
        let refusedText = refused.isEmpty ? "" : " Results refused: " + refused.joined(separator: "; ")
        do {
            let outcome = try await actions.workflowAction(userID: user.userid, action: action, uids: selected, contextUID: uid)
            return Self.redirect(back, message: prefix + Self.outcomeText(action, outcome) + refusedText,
                                 error: !outcome.success || !refused.isEmpty)
        } catch {
            return Self.redirect(back, message: prefix + Self.actionErrorText(error) + refusedText, error: true)
        }
    }

    /// One line about an action's outcome: queued ("N analyses are being processed in background"), or done and
    /// refused counts with the first refusals.
    static func outcomeText(_ action: String, _ outcome: ActionOutcome) -> String {
        if let task = outcome.queuedTask {
            return "\(action.capitalized): " + backgroundText(task.uids.count) + " (task \(task.shortUID))"
        }
        let done = outcome.items.filter(\.success).count
        var text = "\(action.capitalized): \(done) of \(outcome.items.count) done."
        let refusals = outcome.items.filter { !$0.success }
        if !refusals.isEmpty {
            text += " Refused: " + refusals.prefix(5).map { item in
                "\(outcome.state.label(item.uid)): \(item.message)" + (item.guardID.map { " (guard \($0))" } ?? "")
            }.joined(separator: "; ")
        }
        return text
    }

    /// The message of an action's error (the API's text without its HTTP status prefix).
    static func actionErrorText(_ error: any Error) -> String {
        switch error {
        case let error as QueueAPIError: error.detail
        case let error as AlreadyQueuedError: error.description.prefix(1).uppercased() + error.description.dropFirst() + "."
        case let error as LabActionError: error.message
        default: String(describing: error)
        }
    }

    /// "Full Name (userid)" or the userid.
    static func userLabel(_ userid: String, in state: LabState) -> String {
        guard let user = state.user(named: userid), !user.fullname.isEmpty else { return userid }
        return "\(user.fullname) (\(userid))"
    }

    /// Routine, blank, control, duplicate.
    static func slotLabel(_ type: SlotType) -> String {
        switch type {
        case .routine: "routine"
        case .blank: "blank"
        case .control: "control"
        case .duplicate: "duplicate"
        }
    }
}
