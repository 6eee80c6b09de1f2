import Foundation
import Hummingbird
import LabActions
import LIMSCore
import QueueCore
import QueueServer

/// Worksheet endpoints: create (optionally from a template), add analyses, apply a template (the routine
/// parts queued while the queue is ready). Each answers the worksheet with its `layout` rows and its `Analyses`.
///
/// Source: senaite.core `worksheetfolder` add form, `Worksheet.addAnalyses` and `applyWorksheetTemplate`,
/// reference 3.3-3.5.
extension LimsAPIController {
    /// The template application summary as JSON: `assigned`, `duplicates`, `references` (uids) and `skipped`
    /// (uid or `slot <n>` → reason).
    static func applicationJSON(_ application: TemplateApplication) -> JSONValue {
        .object([
            "assigned": .array(application.assigned.map(JSONValue.string)),
            "duplicates": .array(application.duplicates.map(JSONValue.string)),
            "references": .array(application.references.map(JSONValue.string)),
            "skipped": .object(application.skipped.mapValues(JSONValue.string)),
        ])
    }

    /// `POST worksheet/create` {analyst: userid with role Analyst or LabManager, template?: uid, instrument?: uid}.
    /// With a template, it is applied through ``LabActions/createWorksheet(userID:analyst:templateUID:instrumentUID:)``:
    /// while the queue is ready the routine analyses are queued and the answer (at once) carries `queued: true`,
    /// `task_uid` and `template_application` with what was added now; else everything is added now.
    @Sendable func createWorksheet(_ request: Request, context: QueueRequestContext) async throws -> Response {
        let payload = try await LimsPayload.read(request, context: context)
        let analyst = try payload.requiredName("analyst")
        let templateUID = try payload.name("template")
        let instrumentUID = try payload.name("instrument")
        let outcome = try await actions.createWorksheet(userID: context.userID, analyst: analyst, templateUID: templateUID,
                                                        instrumentUID: instrumentUID)
        return Self.worksheetAnswer(outcome, request: request)
    }

    /// The answer of a worksheet creation or template application: the worksheet as a one-item listing, plus
    /// `template_application`, and `queued`/`task_uid`/`queued_uids` when the routine part was queued.
    static func worksheetAnswer(_ outcome: WorksheetOutcome, request: Request) -> Response {
        let base = Self.apiURL(request)
        var extra: [String: JSONValue] = ["queued": .bool(outcome.queuedTask != nil)]
        if let application = outcome.application { extra["template_application"] = Self.applicationJSON(application) }
        if let task = outcome.queuedTask {
            extra["task_uid"] = .string(task.taskUID)
            extra["queued_uids"] = .array(task.uids.map(JSONValue.string))
            extra["message"] = .string("Analyses for \(outcome.state.worksheets[outcome.worksheetUID]?.id ?? "the worksheet") have been queued")
        }
        return Self.items([Self.fullItem(outcome.state.worksheets[outcome.worksheetUID]!, state: outcome.state, baseURL: base)],
                          url: base + "/" + outcome.worksheetUID, extra: extra)
    }

    /// The worksheet `field` names, visible to `user`. - Throws: 404 naming the field.
    static func worksheet(_ uid: String, field: String, user: User, in state: LabState) throws -> Worksheet {
        guard let worksheet = state.worksheets[uid], isVisible(uid, to: user, in: state) else {
            throw QueueAPIError(.notFound, "Field '\(field)': no worksheet with uid '\(uid)'")
        }
        return worksheet
    }

    /// `POST worksheet/add_analyses` {worksheet_uid, uids, slots?}: adds routine analyses in order (`slots`, when
    /// given, has one preferred position per uid). Every analysis is tried; each answers in `items`
    /// `{uid, success, message, guard}`; `success` is true when all were added (or queued: then `queued` and
    /// `task_uid` say so).
    @Sendable func addAnalyses(_ request: Request, context: QueueRequestContext) async throws -> Response {
        let payload = try await LimsPayload.read(request, context: context)
        let worksheetUID = try payload.requiredName("worksheet_uid")
        let analysisUIDs = try payload.actionUIDs()
        let slots = try payload.intList("slots")
        let outcome = try await actions.addAnalyses(userID: context.userID, worksheetUID: worksheetUID,
                                                    analysisUIDs: analysisUIDs, slots: slots)
        let base = Self.apiURL(request)
        var body = Self.fullItem(outcome.state.worksheets[worksheetUID]!, state: outcome.state, baseURL: base)
        body["success"] = nil
        var answer: [String: JSONValue] = [
            "success": .bool(outcome.success), "items": .array(outcome.items.map(Self.itemJSON)), "worksheet": .object(body),
            "url": .string(base + "/worksheet/add_analyses"), "queued": .bool(outcome.queuedTask != nil),
        ]
        if let task = outcome.queuedTask { answer["task_uid"] = .string(task.taskUID) }
        return LimsResponse.make(answer)
    }

    /// An ``ActionItem`` as `{uid, success, message, guard, review_state}`.
    static func itemJSON(_ item: ActionItem) -> JSONValue {
        .object([
            "uid": .string(item.uid), "success": .bool(item.success), "message": .string(item.message),
            "guard": item.guardID.map(JSONValue.string) ?? .null,
            "review_state": item.reviewState.map(JSONValue.string) ?? .null,
        ])
    }

    /// `POST worksheet/apply_template` {worksheet_uid, template_uid}: applies the template through
    /// ``LabActions/applyTemplate(userID:worksheetUID:templateUID:)`` (routine part queued while the queue is
    /// ready; 409 with `task_uid` while a previous assignment for the worksheet is still queued) → the worksheet plus
    /// `template_application`.
    @Sendable func applyTemplate(_ request: Request, context: QueueRequestContext) async throws -> Response {
        let payload = try await LimsPayload.read(request, context: context)
        let worksheetUID = try payload.requiredName("worksheet_uid")
        let templateUID = try payload.requiredName("template_uid")
        let outcome = try await actions.applyTemplate(userID: context.userID, worksheetUID: worksheetUID, templateUID: templateUID)
        return Self.worksheetAnswer(outcome, request: request)
    }
}
