import Foundation
import Hummingbird
import LIMSCore
import QueueCore
import QueueServer

/// Worksheet endpoints: create (optionally from a template, applied synchronously), add analyses, apply a
/// template. Each answers the worksheet with its `layout` rows and its `Analyses`.
///
/// Source: senaite.core `worksheetfolder` add form, `Worksheet.addAnalyses` and `applyWorksheetTemplate`,
/// reference 3.3-3.5.
extension LimsAPIController {
    /// 403 unless `user` may manage worksheets (Manage Worksheets; only lab managers when the lab restricts
    /// worksheet management).
    static func requireWorksheetManagement(_ user: User, state: LabState) throws {
        guard state.hasPermission(.manageWorksheets, on: "", user: user),
              !state.settings.restrictWorksheetManagement || user.isLabManager
        else { throw QueueAPIError(.forbidden, "\(user.userid) may not manage worksheets") }
    }

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
    /// With a template, the template is applied at once; the answer carries `template_application`.
    @Sendable func createWorksheet(_ request: Request, context: QueueRequestContext) async throws -> Response {
        let payload = try await LimsPayload.read(request, context: context)
        let analyst = try payload.requiredString("analyst")
        let templateUID = try payload.string("template")
        let instrumentUID = try payload.string("instrument")
        let now = clock.now(), userID = context.userID, controller = self
        let (worksheetUID, application, state) = try await perform { state -> (String, TemplateApplication?, LabState) in
            let user = try Self.user(userID, in: state)
            try Self.requireWorksheetManagement(user, state: state)
            guard let analystUser = state.user(named: analyst),
                  !analystUser.roles.isDisjoint(with: [.analyst, .labManager, .manager])
            else { throw QueueAPIError(.badRequest, "Field 'analyst': '\(analyst)' is not a user with role Analyst or LabManager") }
            if let templateUID, state.worksheetTemplates[templateUID] == nil {
                throw QueueAPIError(.badRequest, "Field 'template': no worksheet template with uid '\(templateUID)'")
            }
            if let instrumentUID, state.instruments[instrumentUID] == nil {
                throw QueueAPIError(.badRequest, "Field 'instrument': no instrument with uid '\(instrumentUID)'")
            }
            let worksheet: Worksheet
            do {
                worksheet = try state.createWorksheet(analyst: analystUser.userid, instrumentUID: instrumentUID,
                                                      uids: controller.uids, now: now)
            } catch let error as LabError {
                throw Self.apiError(error, field: "analyst")
            }
            var application: TemplateApplication?
            if let templateUID {
                do {
                    application = try state.applyWorksheetTemplate(templateUID, to: worksheet.uid,
                                                                   context: controller.transitionContext(user, worksheetUID: worksheet.uid),
                                                                   now: now)
                } catch let error as LabError {
                    throw Self.apiError(error, field: "template")
                }
            }
            return (worksheet.uid, application, state)
        }
        let base = Self.apiURL(request)
        var extra: [String: JSONValue] = [:]
        if let application { extra["template_application"] = Self.applicationJSON(application) }
        return Self.items([Self.fullItem(state.worksheets[worksheetUID]!, state: state, baseURL: base)],
                          url: base + "/" + worksheetUID, extra: extra)
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
    /// `{uid, success, message, guard}`; `success` is true when all were added.
    @Sendable func addAnalyses(_ request: Request, context: QueueRequestContext) async throws -> Response {
        let payload = try await LimsPayload.read(request, context: context)
        let worksheetUID = try payload.requiredString("worksheet_uid")
        let analysisUIDs = try payload.requiredStringList("uids")
        let slots = try payload.intList("slots")
        if let slots {
            guard slots.count == analysisUIDs.count else {
                throw QueueAPIError(.badRequest, "Field 'slots' must have one position per uid (\(analysisUIDs.count))")
            }
            guard slots.allSatisfy({ $0 >= 1 }) else { throw QueueAPIError(.badRequest, "Field 'slots': positions start at 1") }
        }
        let now = clock.now(), userID = context.userID, controller = self
        let (items, state) = try await perform { state -> ([JSONValue], LabState) in
            let user = try Self.user(userID, in: state)
            _ = try Self.worksheet(worksheetUID, field: "worksheet_uid", user: user, in: state)
            let transitionContext = controller.transitionContext(user, worksheetUID: worksheetUID)
            var items: [JSONValue] = []
            for (index, uid) in analysisUIDs.enumerated() {
                var refusal: (guardID: String, reason: String)?
                if state.object(uid) == nil || !Self.isVisible(uid, to: user, in: state) {
                    refusal = (GuardID.exists, "No analysis with uid \(uid)")
                } else {
                    do {
                        try state.addAnalysis(uid, to: worksheetUID, slot: slots?[index], context: transitionContext, now: now)
                    } catch let error as LabError {
                        refusal = (error.guardID ?? error.code.rawValue, error.message)
                    }
                }
                items.append(.object([
                    "uid": .string(uid), "success": .bool(refusal == nil),
                    "message": .string(refusal?.reason ?? "added"),
                    "guard": refusal.map { .string($0.guardID) } ?? .null,
                ]))
            }
            return (items, state)
        }
        let base = Self.apiURL(request)
        var body = Self.fullItem(state.worksheets[worksheetUID]!, state: state, baseURL: base)
        body["success"] = nil
        return LimsResponse.make([
            "success": .bool(items.allSatisfy { $0.objectValue?["success"] == .bool(true) }),
            "items": .array(items), "worksheet": .object(body), "url": .string(base + "/worksheet/add_analyses"),
        ])
    }

    /// `POST worksheet/apply_template` {worksheet_uid, template_uid}: applies the template synchronously
    /// (routine analyses, duplicates, blanks and controls) → the worksheet plus `template_application`.
    @Sendable func applyTemplate(_ request: Request, context: QueueRequestContext) async throws -> Response {
        let payload = try await LimsPayload.read(request, context: context)
        let worksheetUID = try payload.requiredString("worksheet_uid")
        let templateUID = try payload.requiredString("template_uid")
        let now = clock.now(), userID = context.userID, controller = self
        let (application, state) = try await perform { state -> (TemplateApplication, LabState) in
            let user = try Self.user(userID, in: state)
            _ = try Self.worksheet(worksheetUID, field: "worksheet_uid", user: user, in: state)
            guard state.worksheetTemplates[templateUID] != nil else {
                throw QueueAPIError(.notFound, "Field 'template_uid': no worksheet template with uid '\(templateUID)'")
            }
            do {
                let application = try state.applyWorksheetTemplate(
                    templateUID, to: worksheetUID, context: controller.transitionContext(user, worksheetUID: worksheetUID), now: now)
                return (application, state)
            } catch let error as LabError {
                throw Self.apiError(error, field: "worksheet_uid")
            }
        }
        let base = Self.apiURL(request)
        return Self.items([Self.fullItem(state.worksheets[worksheetUID]!, state: state, baseURL: base)],
                          url: base + "/" + worksheetUID, extra: ["template_application": Self.applicationJSON(application)])
    }
}
