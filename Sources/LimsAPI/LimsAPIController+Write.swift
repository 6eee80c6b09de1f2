import Foundation
import Hummingbird
import LabActions
import LIMSCore
import QueueCore
import QueueServer

/// `create` (samples), `update` (results) and `workflow_action` (listing buttons), each one unit of work.
///
/// Source: senaite.jsonapi `routes/content.py` (`create`, `update`) and senaite.app.listing `workflow_action`,
/// reference 3.1.
extension LimsAPIController {
    /// `POST create` {portal_type: "AnalysisRequest", Client: uid, Contact: uid, SampleType: uid or title or
    /// prefix, Analyses: [keyword or uid], Priority?: 1...5, ClientSampleID?: text} → the sample with its analyses.
    /// `ClientSampleID` (SENAITE's field of that name: the client's own id of the sample, at most 256 bytes, no
    /// control characters; blank is none) is stored with the sample and found by the samples lists' search. Other
    /// fields are skipped, as senaite.jsonapi skips fields it cannot set, and named in the answer's `skipped_fields`
    /// (at most 50, each cut to 64 characters; `skipped_count` says how many) and in the log (escaped).
    ///
    /// Allowed to users holding `add_sample` on the client (LabManager, Manager, LabClerk, or the client's own
    /// users as Owner); 403 otherwise.
    @Sendable func create(_ request: Request, context: QueueRequestContext) async throws -> Response {
        let payload = try await LimsPayload.read(request, context: context)
        let portalType = try payload.checkedName("portal_type", context.parameters.get("portal_type") ?? payload.requiredString("portal_type"))
        if portalType == PortalType.contact.rawValue { return try await createContact(payload, request: request, context: context) }
        guard portalType == PortalType.sample.rawValue else {
            throw QueueAPIError(.badRequest, "Field 'portal_type': only AnalysisRequest and Contact can be created, not '\(portalType)'")
        }
        let clientUID = try payload.requiredName("Client")
        let contactUID = try payload.requiredName("Contact")
        let sampleTypeRef = try payload.checkedName("SampleType", payload.requiredString("SampleType"), maxLength: LimsPayload.maxTitleLength)
        let analyses = try payload.requiredStringList("Analyses").map { try payload.checkedName("Analyses", $0) }
        let priority = try payload.int("Priority") ?? 3
        guard (1...5).contains(priority) else { throw QueueAPIError(.badRequest, "Field 'Priority' must be in 1...5") }
        let clientSampleID = try payload.string("ClientSampleID").flatMap { text -> String? in
            let trimmed = try payload.checkedName("ClientSampleID", text.trimmingCharacters(in: .whitespaces), maxLength: LimsPayload.maxTitleLength)
            // What a name must not hide behind (``QueueCore/Unicode/Scalar/isInvisible``), and line breaks.
            guard !trimmed.unicodeScalars.contains(where: { $0.isInvisible || Self.separators.contains($0.properties.generalCategory) }) else {
                throw QueueAPIError(.badRequest, "Field 'ClientSampleID' must not hold control or invisible formatting characters "
                                    + "(line breaks, tabs, escapes, direction overrides, zero-width characters)")
            }
            return trimmed.isEmpty ? nil : trimmed
        }
        let now = clock.now(), uids = self.uids, userID = context.userID
        let (sample, state) = try await perform { state, reader -> (Sample, LabState) in
            let user = try Self.user(userID, in: state)
            try await reader.load([clientUID, contactUID], into: &state)
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
            try await reader.reserve(LabState.counterKey(.sample, sampleTypePrefix: sampleType.prefix), count: 1, into: &state)
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
                                                    serviceUIDs: serviceUIDs, priority: priority, clientSampleID: clientSampleID,
                                                    uids: uids, now: now)
                return (sample, state)
            } catch let error as LabError {
                throw Self.apiError(error, field: "Analyses")
            }
        }
        // Fields this LIMS does not store are skipped, as senaite.jsonapi skips a field it cannot set (with a warning in
        // its log); named in the log and the answer, so that a client sending `Remarks` learns it was not kept.
        // The names as the client sent them (cut to 64 characters, the first 50) in the answer; in the log escaped, so
        // a name cannot forge a log line or send terminal escapes (a tryout's `\n...critical...` did).
        let skipped = payload.fields.keys.filter { !Self.sampleCreateFields.contains($0) }.sorted()
        let named = skipped.prefix(50).map { String($0.prefix(64)) }
        if !skipped.isEmpty {
            context.logger.warning("create: fields skipped, not stored by this LIMS", metadata: [
                "lims.fields": .string(named.map(Self.escapedForLog).joined(separator: ",")), "lims.skipped": .stringConvertible(skipped.count),
            ])
        }
        let base = Self.apiURL(request)
        return Self.items([Self.fullItem(sample, state: state, baseURL: base)], url: base + "/" + sample.uid,
                          extra: skipped.isEmpty ? [:] : ["skipped_fields": .array(named.map(JSONValue.string)), "skipped_count": .int(skipped.count)])
    }

    /// Line and paragraph separators (U+2028, U+2029): visible, but they break the lines a client sample id is shown on.
    static let separators: Set<Unicode.GeneralCategory> = [.lineSeparator, .paragraphSeparator]

    /// `text` with every character but ASCII letters, digits and `_-.:/` written as `\u{hex}` (and `\` as `\\`): one
    /// word of one log line whatever a client sends (a space, `=` or `[` let a name pose as more metadata; a tryout).
    static func escapedForLog(_ text: String) -> String {
        var escaped = ""
        for scalar in text.unicodeScalars {
            if scalar == "\\" {
                escaped += "\\\\"
            } else if scalar.properties.isASCIIHexDigit || (0x41...0x5A).contains(scalar.value) || (0x61...0x7A).contains(scalar.value)
                        || "_-.:/".unicodeScalars.contains(scalar) {
                escaped.unicodeScalars.append(scalar)
            } else {
                escaped += "\\u{\(String(scalar.value, radix: 16))}"
            }
        }
        return escaped
    }

    /// The fields `create` of a sample reads; others are skipped and named in the answer's `skipped_fields`.
    static let sampleCreateFields: Set<String> = ["portal_type", "Client", "Contact", "SampleType", "Analyses", "Priority", "ClientSampleID"]

    /// `POST create` {portal_type: "Contact", Client: uid, Firstname, Surname, EmailAddress?} → the client contact.
    /// Lab managers and managers only (403 otherwise); 400 naming the field for bad input.
    func createContact(_ payload: LimsPayload, request: Request, context: QueueRequestContext) async throws -> Response {
        let clientUID = try payload.requiredName("Client")
        let firstname = try payload.requiredString("Firstname")
        let surname = try payload.requiredString("Surname")
        let email = try payload.string("EmailAddress") ?? ""
        guard !firstname.isEmpty, firstname.count <= 100 else { throw QueueAPIError(.badRequest, "Field 'Firstname': 1-100 characters") }
        guard !surname.isEmpty, surname.count <= 100 else { throw QueueAPIError(.badRequest, "Field 'Surname': 1-100 characters") }
        guard email.isEmpty || (email.count <= 254 && email.contains("@")) else {
            throw QueueAPIError(.badRequest, "Field 'EmailAddress': not an e-mail address")
        }
        let now = clock.now(), uids = self.uids, userID = context.userID
        let (contact, state) = try await perform { state, reader -> (Contact, LabState) in
            let user = try Self.user(userID, in: state)
            try await reader.load([clientUID], into: &state)
            guard user.isLabManager else { throw QueueAPIError(.forbidden, "\(user.userid) may not create contacts") }
            guard state.clients[clientUID] != nil else { throw QueueAPIError(.badRequest, "Field 'Client': no client with uid '\(clientUID)'") }
            try await reader.reserve(LabState.counterKey(.contact), count: 1, into: &state)
            let contact = try state.createContact(in: clientUID, firstname: firstname, surname: surname, email: email, uids: uids, now: now)
            return (contact, state)
        }
        let base = Self.apiURL(request)
        return Self.items([Self.fullItem(contact, state: state, baseURL: base)], url: base + "/" + contact.uid)
    }

    /// `POST update` {uid, Result} (or `update/<uid>` {Result}): sets (or clears with null) an analysis result.
    /// Refused 403 without `Edit Results`, 409 once the analysis is submitted or closed; the message names the
    /// field.
    @Sendable func update(_ request: Request, context: QueueRequestContext) async throws -> Response {
        let payload = try await LimsPayload.read(request, context: context)
        let uid = try payload.checkedName("uid", context.parameters.get("uid") ?? payload.requiredString("uid"))
        guard payload.fields.keys.contains("Result") else { throw QueueAPIError(.badRequest, "Field 'Result' is required") }
        let result: String?
        switch payload.fields["Result"] {
        case .string(let text)?: result = text
        case .int(let number)?: result = String(number)
        case .double(let number)?:
            guard number.isFinite else { throw QueueAPIError(.badRequest, "Field 'Result' must be a finite number") }
            result = String(number)
        // A number Double cannot hold exactly (``QueueCore/JSONValue/verbatimNumber(_:)``): kept as written when it
        // is finite (a result is stored as text, as SENAITE does), refused beyond Double's range.
        case .verbatimNumber(let text)?:
            guard Double(text)?.isFinite == true else { throw QueueAPIError(.badRequest, "Field 'Result' must be a finite number") }
            result = text
        case .null?: result = nil
        default: throw QueueAPIError(.badRequest, "Field 'Result' must be a string, a number or null")
        }
        let state = try await actions.setResult(userID: context.userID, uid: uid, result: result)
        let analysis = state.analysisRecord(uid)!
        let base = Self.apiURL(request)
        return Self.items([Self.fullItem(analysis, state: state, baseURL: base)], url: base + "/" + uid)
    }

    /// `POST workflow_action` {action, uids, context_uid?}: runs `action` on every uid in one unit of work
    /// (atomic, conflict-retried) through ``LabActions/workflowAction(userID:action:uids:contextUID:)``.
    /// `assign`/`unassign` act from the worksheet `context_uid`. Answers `{success, action, items: [{uid, success,
    /// message, guard, review_state}]}`; `success` is true when every item succeeded; refused items name their guard.
    /// Worksheet actions queued while the queue is ready answer at once `{success, queued: true, task_uid, uids,
    /// message, items}` (`uids`: the ones this task took; items say which were already queued by an earlier request);
    /// when every uid is already queued for the same action on the worksheet the answer is 409 with the queued `task_uid`.
    @Sendable func workflowAction(_ request: Request, context: QueueRequestContext) async throws -> Response {
        let payload = try await LimsPayload.read(request, context: context)
        let action = try payload.requiredName("action")
        let targets = try payload.actionUIDs()
        let worksheetUID = try payload.name("context_uid")
        let url = JSONValue.string(Self.apiURL(request) + "/workflow_action")
        let outcome = try await actions.workflowAction(userID: context.userID, action: action, uids: targets, contextUID: worksheetUID)
        if let task = outcome.queuedTask {
            return LimsResponse.make([
                "success": .bool(true), "queued": .bool(true), "action": .string(action), "task_uid": .string(task.taskUID),
                "uids": .array(task.uids.map(JSONValue.string)), "items": .array(outcome.items.map(Self.itemJSON)),
                "message": .string("\(task.uids.count) analyses are being processed in background"), "url": url,
            ])
        }
        return LimsResponse.make([
            "success": .bool(outcome.success), "action": .string(action), "items": .array(outcome.items.map(Self.itemJSON)), "url": url,
        ])
    }

    /// `POST contact/link_user` {contact_uid, username, password?}: links a client contact to a login (created with
    /// role Client when `username` is new; `password` then required), then re-indexes the client's subtree: queued
    /// as `task_reindex_object_security` while the queue is ready (`task_uid` in the answer), else at once
    /// (`reindexed`). Lab managers only.
    @Sendable func linkUser(_ request: Request, context: QueueRequestContext) async throws -> Response {
        let payload = try await LimsPayload.read(request, context: context)
        let contactUID = try payload.requiredName("contact_uid")
        let username = try payload.requiredString("username")
        let password = try payload.string("password")
        let outcome = try await actions.linkUser(userID: context.userID, contactUID: contactUID, username: username, password: password)
        var body: [String: JSONValue] = [
            "success": .bool(true), "username": .string(outcome.userid), "created": .bool(outcome.created),
            "queued": .bool(outcome.queuedTask != nil), "reindexed": .int(outcome.reindexed),
            "url": .string(Self.apiURL(request) + "/contact/link_user"),
        ]
        if let task = outcome.queuedTask { body["task_uid"] = .string(task.taskUID) }
        return LimsResponse.make(body)
    }

    /// `GET queue_statistics?since=EPOCH` (lab managers): per task name `{processed, failed, retried, wait_mean,
    /// wait_p95, run_mean, run_p95}` (seconds) over the history since `since` (default: the last hour), and the
    /// queued/running/failed task counts now (the per-name figures may be up to 2 seconds old: requests for the same
    /// `since` within 2 seconds share one computation; the counts are always current). 403 for other users; 400 naming `since` when it is not a number.
    @Sendable func queueStatistics(_ request: Request, context: QueueRequestContext) async throws -> Response {
        guard let user = try await repository.user(named: context.userID ?? "") else {
            throw QueueAPIError(.unauthorized, "Authentication required")
        }
        guard user.isLabManager else { throw QueueAPIError(.forbidden, "\(user.userid) may not read queue statistics") }
        guard let queue else { throw QueueAPIError(.notFound, "no queue on this node") }
        let sinceText = request.uri.queryParameters.get("since")
        guard sinceText == nil || Double(sinceText!)?.isFinite == true else { throw QueueAPIError(.badRequest, "Field 'since' must be epoch seconds") }
        let now = clock.now()
        let given = sinceText.flatMap(Double.init)
        // Aggregated by the database (the window's attempts and the queue's tasks are counted there, not read here),
        // and shared by the requests of the same 2 seconds.
        // The counts are live (one GROUP BY): a client polling until the queue is empty never sees an old answer.
        let figures = try await statistics.value(for: given, now: now) {
            let since = given ?? now - 3600
            return QueueStatisticsFigures(since: since, kinds: try await queue.kindStatistics(since: since))
        }
        let counts = try await queue.counts(ghosts: true)
        let since = figures.since, kinds = figures.kinds
        func count(_ status: TaskStatus) -> JSONValue { .int(counts[status] ?? 0) }
        func time(_ seconds: Double, _ kind: TaskKindStatistics) -> JSONValue { kind.processed > 0 ? .double(seconds) : .null }
        return LimsResponse.make([
            "success": .bool(true), "since": .double(since),
            "queued": count(.queued), "running": count(.running), "failed": count(.failed),
            "kinds": .object(Dictionary(uniqueKeysWithValues: kinds.map { kind in
                // Times come from done attempts only: with none done there is no figure (null, as `limsqueue status`
                // shows "–"), not a wait of 0 s.
                (kind.name, JSONValue.object([
                    "processed": .int(kind.processed), "failed": .int(kind.failed), "retried": .int(kind.retried),
                    "wait_mean": time(kind.waitMean, kind), "wait_p95": time(kind.waitP95, kind),
                    "run_mean": time(kind.runMean, kind), "run_p95": time(kind.runP95, kind),
                ]))
            })),
            "url": .string(Self.apiURL(request) + "/queue_statistics"),
        ])
    }

    /// `GET queue_status` → `{status: ready|resuming|disabled, queued: <objects in queued or running tasks>}`
    /// (senaite.queue `get_queue_status`, reference 0).
    @Sendable func queueStatus(_ request: Request, context: QueueRequestContext) async throws -> Response {
        let status = try await actions.queueStatus()
        let queued = status.isEnabled ? try await actions.queuedObjectUIDs().count : 0
        return LimsResponse.make([
            "success": .bool(true), "status": .string(status.rawValue), "queued": .int(queued),
            "url": .string(Self.apiURL(request) + "/queue_status"),
        ])
    }
}

/// What `queue_statistics` computes once for the requests that share it (``RecentResults``).
struct QueueStatisticsFigures: Sendable {
    /// Start of the window, epoch seconds.
    let since: Double
    /// Per task name, over the window.
    let kinds: [TaskKindStatistics]
}
