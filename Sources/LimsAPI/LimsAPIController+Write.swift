import Foundation
import Hummingbird
import LIMSCore
import QueueCore
import QueueServer

/// `create` (samples), `update` (results) and `workflow_action` (listing buttons), each one unit of work.
///
/// Source: senaite.jsonapi `routes/content.py` (`create`, `update`) and senaite.app.listing `workflow_action`,
/// reference 3.1.
extension LimsAPIController {
    /// `POST create` {portal_type: "AnalysisRequest", Client: uid, Contact: uid, SampleType: uid or title or
    /// prefix, Analyses: [keyword or uid], Priority?: 1...5} → the sample with its analyses.
    ///
    /// Allowed to users holding `add_sample` on the client (LabManager, Manager, LabClerk, or the client's own
    /// users as Owner); 403 otherwise.
    @Sendable func create(_ request: Request, context: QueueRequestContext) async throws -> Response {
        let payload = try await LimsPayload.read(request, context: context)
        let portalType = try context.parameters.get("portal_type") ?? payload.requiredString("portal_type")
        guard portalType == PortalType.sample.rawValue else {
            throw QueueAPIError(.badRequest, "Field 'portal_type': only AnalysisRequest can be created, not '\(portalType)'")
        }
        let clientUID = try payload.requiredString("Client")
        let contactUID = try payload.requiredString("Contact")
        let sampleTypeRef = try payload.requiredString("SampleType")
        let analyses = try payload.requiredStringList("Analyses")
        let priority = try payload.int("Priority") ?? 3
        guard (1...5).contains(priority) else { throw QueueAPIError(.badRequest, "Field 'Priority' must be in 1...5") }
        let now = clock.now(), uids = self.uids, userID = context.userID
        let (sample, state) = try await perform { state -> (Sample, LabState) in
            let user = try Self.user(userID, in: state)
            guard let client = state.clients[clientUID], Self.isVisible(clientUID, to: user, in: state) else {
                throw QueueAPIError(.badRequest, "Field 'Client': no client with uid '\(clientUID)'")
            }
            guard state.hasPermission(.addSample, on: clientUID, user: user) else {
                throw QueueAPIError(.forbidden, "Field 'Client': \(user.userid) may not add samples to client \(client.name)")
            }
            guard let contact = state.contacts[contactUID] else {
                throw QueueAPIError(.badRequest, "Field 'Contact': no contact with uid '\(contactUID)'")
            }
            guard contact.clientUID == clientUID else {
                throw QueueAPIError(.badRequest, "Field 'Contact': \(contact.fullname) is not a contact of client \(client.name)")
            }
            guard let sampleType = state.sampleTypes[sampleTypeRef]
                ?? state.sampleTypes.values.first(where: { $0.title == sampleTypeRef || $0.prefix == sampleTypeRef })
            else { throw QueueAPIError(.badRequest, "Field 'SampleType': no sample type '\(sampleTypeRef)'") }
            var serviceUIDs: [String] = []
            for reference in analyses {
                guard let service = state.analysisServices[reference]
                    ?? state.analysisServices.values.first(where: { $0.keyword == reference })
                else { throw QueueAPIError(.badRequest, "Field 'Analyses': no analysis service with keyword or uid '\(reference)'") }
                guard !serviceUIDs.contains(service.uid) else {
                    throw QueueAPIError(.badRequest, "Field 'Analyses': service \(service.keyword) is requested twice")
                }
                serviceUIDs.append(service.uid)
            }
            do {
                let sample = try state.createSample(clientUID: clientUID, contactUID: contactUID, sampleTypeUID: sampleType.uid,
                                                    serviceUIDs: serviceUIDs, priority: priority, uids: uids, now: now)
                return (sample, state)
            } catch let error as LabError {
                throw Self.apiError(error, field: "Analyses")
            }
        }
        let base = Self.apiURL(request)
        return Self.items([Self.fullItem(sample, state: state, baseURL: base)], url: base + "/" + sample.uid)
    }

    /// `POST update` {uid, Result} (or `update/<uid>` {Result}): sets (or clears with null) an analysis result.
    /// Refused 403 without `Edit Results`, 409 once the analysis is submitted or closed; the message names the
    /// field.
    @Sendable func update(_ request: Request, context: QueueRequestContext) async throws -> Response {
        let payload = try await LimsPayload.read(request, context: context)
        let uid = try context.parameters.get("uid") ?? payload.requiredString("uid")
        guard payload.fields.keys.contains("Result") else { throw QueueAPIError(.badRequest, "Field 'Result' is required") }
        let result: String?
        switch payload.fields["Result"] {
        case .string(let text)?: result = text
        case .int(let number)?: result = String(number)
        case .double(let number)?: result = String(number)
        case .null?: result = nil
        default: throw QueueAPIError(.badRequest, "Field 'Result' must be a string, a number or null")
        }
        let userID = context.userID, controller = self
        let (analysis, state) = try await perform { state -> (any AnalysisRecord, LabState) in
            let user = try Self.user(userID, in: state)
            guard state.object(uid) != nil, Self.isVisible(uid, to: user, in: state) else {
                throw QueueAPIError(.notFound, "Field 'uid': no object with uid '\(uid)'")
            }
            guard state.analysisRecord(uid) != nil else {
                throw QueueAPIError(.badRequest, "Field 'uid': '\(uid)' is not an analysis; only results can be updated")
            }
            do {
                try state.setResult(result, on: uid, context: controller.transitionContext(user))
            } catch let error as LabError {
                throw Self.apiError(error, field: "Result")
            }
            return (state.analysisRecord(uid)!, state)
        }
        let base = Self.apiURL(request)
        return Self.items([Self.fullItem(analysis, state: state, baseURL: base)], url: base + "/" + uid)
    }

    /// `POST workflow_action` {action, uids, context_uid?}: runs `action` on every uid in one unit of work
    /// (atomic, conflict-retried). `assign`/`unassign` act from the worksheet `context_uid` (assign adds the
    /// analysis to the worksheet layout). Answers `{success, action, items: [{uid, success, message, guard}]}`;
    /// `success` is true when every item succeeded; refused items name their guard.
    @Sendable func workflowAction(_ request: Request, context: QueueRequestContext) async throws -> Response {
        let payload = try await LimsPayload.read(request, context: context)
        let action = try payload.requiredString("action")
        let targets = try payload.requiredStringList("uids")
        let worksheetUID = try payload.string("context_uid")
        let now = clock.now(), userID = context.userID, controller = self
        if let queue, let worksheetUID, Self.queuedWorksheetActions.contains(action), try await queue.settings().chunkSize > 0 {
            return try await enqueueWorksheetAction(action, uids: targets, worksheetUID: worksheetUID, queue: queue,
                                                    request: request, context: context)
        }
        // Objects in queued tasks are guarded (reference 1.11): no transition on their samples and worksheets.
        let queuedUIDs = try await queue?.objectUIDs(status: [.queued]) ?? []
        let items = try await perform { state -> [JSONValue] in
            let user = try Self.user(userID, in: state)
            if let worksheetUID {
                guard state.worksheets[worksheetUID] != nil, Self.isVisible(worksheetUID, to: user, in: state) else {
                    throw QueueAPIError(.badRequest, "Field 'context_uid': no worksheet with uid '\(worksheetUID)'")
                }
            }
            let transitionContext = controller.transitionContext(user, worksheetUID: worksheetUID, queuedUIDs: queuedUIDs)
            var items: [JSONValue] = []
            for uid in targets {
                var refusal: (guardID: String, reason: String)?
                if state.object(uid) == nil || !Self.isVisible(uid, to: user, in: state) {
                    refusal = (GuardID.exists, "No object with uid \(uid)")
                } else if action == "assign", let worksheetUID {
                    do {
                        try state.addAnalysis(uid, to: worksheetUID, context: transitionContext, now: now)
                    } catch let error as LabError {
                        refusal = (error.guardID ?? error.code.rawValue, error.message)
                    }
                } else if action == "unassign" {
                    if case .refused(let guardID, let reason) = state.removeAnalysis(uid, context: transitionContext, now: now) {
                        refusal = (guardID, reason)
                    }
                } else if case .refused(let guardID, let reason) = WorkflowEngine.doTransition(
                    action, on: uid, context: transitionContext, state: &state, now: now) {
                    refusal = (guardID, reason)
                }
                items.append(.object([
                    "uid": .string(uid),
                    "success": .bool(refusal == nil),
                    "message": .string(refusal?.reason ?? "\(action): done"),
                    "guard": refusal.map { .string($0.guardID) } ?? .null,
                    "review_state": state.object(uid)?.workflowState.map(JSONValue.string) ?? .null,
                ]))
            }
            return items
        }
        let allDone = items.allSatisfy { $0.objectValue?["success"] == .bool(true) }
        return LimsResponse.make([
            "success": .bool(allDone), "action": .string(action), "items": .array(items),
            "url": .string(Self.apiURL(request) + "/workflow_action"),
        ])
    }

    /// Worksheet actions that go through the queue when it is ready (senaite.queue's worksheet action adapters,
    /// reference 1.12).
    static let queuedWorksheetActions: Set<String> = ["submit", "verify", "retract", "reject", "unassign"]

    /// Queues `task_action_<action>` for `uids` on a worksheet in the same transaction as the request, and answers
    /// at once with the task's uid. A second identical action while the first is still queued is answered 409 with
    /// the queued task's uid (never silently dropped; reference 4).
    func enqueueWorksheetAction(_ action: String, uids targets: [String], worksheetUID: String, queue: any QueueStore,
                                request: Request, context: QueueRequestContext) async throws -> Response {
        let settings = try await queue.settings()
        let name = "task_action_\(action)"
        if let queued = try await queue.tasks(for: worksheetUID, name: name).first(where: { $0.status == .queued && $0.contextUID == worksheetUID }) {
            var body: [String: JSONValue] = [
                "success": .bool(false), "status": .int(409), "task_uid": .string(queued.taskUID),
                "message": .string("Conflict - \(action) is already queued for this worksheet (task \(queued.taskUID))"),
            ]
            body["url"] = .string(Self.apiURL(request) + "/workflow_action")
            return LimsResponse.make(status: .conflict, body)
        }
        let now = clock.now(), userID = context.userID
        let task = try await repository.perform(enqueuing: { state -> (QueueTask, [QueueTask]) in
            let user = try Self.user(userID, in: state)
            guard let worksheet = state.worksheets[worksheetUID], Self.isVisible(worksheetUID, to: user, in: state) else {
                throw QueueAPIError(.badRequest, "Field 'context_uid': no worksheet with uid '\(worksheetUID)'")
            }
            var seen: Set<String> = []
            let uids = targets.filter { seen.insert($0).inserted }
            let task = QueueTask(name: name, contextUID: worksheet.uid, contextPath: worksheet.path, uids: uids, created: now,
                                 minSeconds: settings.minSeconds, maxSeconds: settings.maxSeconds, retries: settings.maxRetries,
                                 unique: true, chunkSize: settings.chunkSize, username: user.userid, action: action)
            return (task, [task])
        })
        return LimsResponse.make([
            "success": .bool(true), "queued": .bool(true), "action": .string(action), "task_uid": .string(task.taskUID),
            "uids": .array(task.uids.map(JSONValue.string)),
            "message": .string("\(task.uids.count) analyses are being processed in background"),
            "url": .string(Self.apiURL(request) + "/workflow_action"),
        ])
    }
}
