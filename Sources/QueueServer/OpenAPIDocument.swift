import Foundation
import QueueCore

/// The OpenAPI 3.1 description of every route the `limsqueue serve` server answers: the queue server
/// (senaite.queue's `queue_server/...`, reference 1.3), the LIMS JSON API (senaite.jsonapi style, reference 3),
/// `version`, `/metrics` and `/openapi.yaml` itself. Every API route is described under both mount points
/// (``QueueServerController/apiPrefixes``).
///
/// Served by `GET /openapi.yaml`. Built as a ``JSONValue`` tree (so tests can walk it) and rendered as YAML
/// (block style, every string double-quoted). The suite `OpenAPIDescriptionTests` checks it against the router
/// (every registered route described, every described route registered); `scripts/api-fuzz` runs schemathesis
/// against a live server with it.
public enum OpenAPIDocument {
    /// The description as a JSON value.
    public static let document: JSONValue = build()
    /// The description as YAML text.
    public static let yaml: String = YAMLRenderer.render(document)
    /// The same description as JSON text (sorted keys), for tools that read JSON only (`GET /openapi.json`).
    public static let json: String = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(document)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }()

    // MARK: Building blocks

    static func object(_ pairs: KeyValuePairs<String, JSONValue>) -> JSONValue {
        var dict: [String: JSONValue] = [:]
        for (key, value) in pairs { dict[key] = value }
        return .object(dict)
    }

    static func ref(_ schema: String) -> JSONValue { object(["$ref": .string("#/components/schemas/\(schema)")]) }
    static let string: JSONValue = object(["type": "string"])
    /// A uid or name given to the LIMS API: at most 64 characters (longer ones are refused with 400).
    static let name: JSONValue = object(["type": "string", "maxLength": 64])
    static let integer: JSONValue = object(["type": "integer"])
    static let number: JSONValue = object(["type": "number"])
    static let boolean: JSONValue = object(["type": "boolean"])
    static func nullable(_ type: String) -> JSONValue { object(["type": .array([.string(type), "null"])]) }
    static func array(_ items: JSONValue) -> JSONValue { object(["type": "array", "items": items]) }
    static let stringList: JSONValue = array(string)
    /// A string or a list of strings (senaite.jsonapi accepts both; a string may be comma-separated).
    static let stringOrList: JSONValue = object(["oneOf": .array([string, stringList])])
    /// A task uid: 32 hexadecimal characters.
    static let taskUID: JSONValue = object(["type": "string", "pattern": "^[0-9a-fA-F]{32}$"])
    /// A LIMS object uid: 32 lowercase hexadecimal characters.
    static let objectUID: JSONValue = object(["type": "string", "pattern": "^[0-9a-f]{32}$"])
    /// A non-empty string.
    static let text: JSONValue = object(["type": "string", "minLength": 1])
    static func bounded(_ type: String, _ minimum: Double, _ maximum: Double) -> JSONValue {
        object(["type": .string(type), "minimum": .number(minimum), "maximum": .number(maximum)])
    }
    /// A JSON boolean or a 0/1, "true"/"false"... flag.
    static let flag: JSONValue = object(["type": .array(["boolean", "integer", "string"])])

    /// An object schema; `required` names required properties. Further properties are allowed.
    static func schema(_ properties: KeyValuePairs<String, JSONValue>, required: [String] = []) -> JSONValue {
        var props: [String: JSONValue] = [:]
        for (key, value) in properties { props[key] = value }
        var dict: [String: JSONValue] = ["type": "object", "properties": .object(props)]
        if !required.isEmpty { dict["required"] = .array(required.map(JSONValue.string)) }
        return .object(dict)
    }

    static func json(_ schema: JSONValue) -> JSONValue { object(["application/json": object(["schema": schema])]) }

    /// A JSON response.
    static func response(_ description: String, _ schema: JSONValue) -> JSONValue {
        object(["description": .string(description), "content": json(schema)])
    }

    /// Error responses of the listed statuses (every one the JSON error shape).
    static func errors(_ codes: [Int]) -> [String: JSONValue] {
        var result: [String: JSONValue] = [:]
        for code in codes { result[String(code)] = object(["$ref": .string("#/components/responses/E\(code)")]) }
        return result
    }

    static let errorDescriptions: [Int: String] = [
        400: "Bad request: the body is not JSON, or a field is missing or mistyped (the message names the field).",
        401: "Missing, invalid or expired credentials (token, cookie or Basic), or a cookie session without its CSRF proof.",
        403: "The user lacks the permission (the message names it).",
        404: "No such route, task or object (or not visible to the user).",
        406: "Not acceptable: no valid task in the request.",
        409: "Conflict: lost lease, refused transition, duplicate queued action, or a unit of work that kept conflicting.",
        412: "Precondition failed: task uid empty or malformed, or the task is not running.",
        413: "The request body is larger than 4 MiB.",
        428: "Precondition required: no valid consumer id (at least 4 characters).",
        429: "Too many failed logins for this user or address; retry after Retry-After seconds.",
        503: "The database is locked by another process for more than 30 s, read-only, or unreachable; nothing was written. Retry after Retry-After seconds.",
        507: "The disk holding the database is full; nothing was written. Free space and retry.",
    ]

    /// Statuses any operation may answer, whatever its own: the storage failures (``QueueCore/StorageFailure``).
    static let storageErrors = [503, 507]

    /// A route's operation.
    static func operation(_ id: String, _ summary: String, tags: [String], security: [String]?,
                          parameters: [JSONValue] = [], body: JSONValue? = nil, bodyRequired: Bool = false,
                          ok: JSONValue, errors codes: [Int]) -> JSONValue {
        var responses = errors(codes + storageErrors)
        responses["200"] = ok
        var dict: [String: JSONValue] = [
            "operationId": .string(id), "summary": .string(summary), "tags": .array(tags.map(JSONValue.string)),
            "responses": .object(responses),
        ]
        if let security {
            dict["security"] = .array(security.map { JSONValue.object([$0: .array([])]) })
        } else {
            dict["security"] = .array([])
        }
        if !parameters.isEmpty { dict["parameters"] = .array(parameters) }
        if let body {
            dict["requestBody"] = object(["required": .bool(bodyRequired), "content": json(body)])
        }
        return .object(dict)
    }

    static func pathParameter(_ name: String, _ description: String, schema: JSONValue = string) -> JSONValue {
        object(["name": .string(name), "in": "path", "required": true, "description": .string(description), "schema": schema])
    }

    static func queryParameter(_ name: String, _ description: String, schema: JSONValue = string) -> JSONValue {
        object(["name": .string(name), "in": "query", "required": false, "description": .string(description), "schema": schema])
    }

    // MARK: The document

    static func build() -> JSONValue {
        var paths: [String: [String: JSONValue]] = [:]
        for (index, prefix) in QueueServerController.apiPrefixes.enumerated() {
            let suffix = index == 0 ? "" : "_site"
            for (path, methods) in apiPaths(suffix: suffix) {
                paths["/\(prefix)/\(path)", default: [:]].merge(methods) { _, new in new }
            }
        }
        paths["/metrics"] = ["get": operation(
            "metrics", "Prometheus metrics (text format 0.0.4): task counts per name and status, processed and failed "
                + "totals, wait and run time histograms, consumers. Public: counts and durations only, no data.",
            tags: ["observability"], security: nil,
            ok: object(["description": "The metrics page.",
                        "content": object(["text/plain": object(["schema": string])])]),
            errors: [])]
        paths["/openapi.yaml"] = ["get": openAPIOperation("openapi_root")]
        paths["/openapi.json"] = ["get": openAPIOperation("openapi_json_root", json: true)]
        return object([
            "openapi": "3.1.0",
            "info": object([
                "title": "LimsQueue API",
                "version": "1.0.0",
                "description": .string(
                    "The queue server (senaite.queue's JSON protocol) and the LIMS JSON API (senaite.jsonapi style) of "
                    + "`limsqueue serve`. Every route is mounted under /@@API/senaite/v1 and, for clients configured "
                    + "with a site path, /senaite/@@API/senaite/v1. Errors are JSON {success: false, message, status}."),
            ]),
            "paths": .object(paths.mapValues(JSONValue.object)),
            "components": components(),
        ])
    }

    static func openAPIOperation(_ id: String, json: Bool = false) -> JSONValue {
        operation(id, json ? "This OpenAPI 3.1 description (JSON)." : "This OpenAPI 3.1 description (YAML).", tags: ["meta"],
                  security: nil,
                  ok: object(["description": "The description.",
                              "content": object([json ? "application/json" : "application/yaml": object(["schema": object(["type": "object"])])])]),
                  errors: [])
    }

    /// The routes under one API prefix, path (relative to the prefix) → method → operation.
    static func apiPaths(suffix: String) -> [String: [String: JSONValue]] {
        var paths: [String: [String: JSONValue]] = [:]
        func add(_ path: String, _ method: String, _ operation: JSONValue) { paths[path, default: [:]][method] = operation }
        let queue = ["queueToken"], lims = ["basicAuth", "sessionCookie"]
        let queueErrors = [400, 401, 413]

        // version and the description
        for method in ["get", "post"] {
            add("version", method, operation("version_\(method)\(suffix)", "Server version and time.", tags: ["meta"],
                                              security: nil, ok: response("Version.", ref("Version")), errors: [400, 413]))
        }
        add("openapi.yaml", "get", openAPIOperation("openapi\(suffix)"))
        add("openapi.json", "get", openAPIOperation("openapi_json\(suffix)", json: true))

        // queue_server read routes (GET and POST alike; GET reads the query string)
        let statusParameter = pathParameter("status", "queued, running, failed or ghost.",
                                            schema: object(["type": "string", "enum": ["queued", "running", "failed", "ghost"]]))
        let listQuery = [
            queryParameter("status", "Statuses (comma-separated): queued, running, failed, ghost. Default: queued,running."),
            queryParameter("since", "Only tasks created after this epoch time, seconds.", schema: number),
            queryParameter("complete", "Complete task dicts instead of short ones.", schema: flag),
        ]
        let listBody = schema(["status": stringOrList, "since": number, "complete": flag, "__zeo": string])
        let taskUIDParameter = pathParameter("task_uid", "A task uid (32 hexadecimal characters).", schema: taskUID)
        for method in ["get", "post"] {
            let body: JSONValue? = method == "post" ? listBody : nil
            let query: [JSONValue] = method == "get" ? listQuery : []
            add("queue_server/tasks", method, operation(
                "queue_tasks_\(method)\(suffix)", "Tasks of the given statuses.", tags: ["queue"], security: queue,
                parameters: query, body: body, ok: response("Task summary.", ref("TaskSummary")), errors: queueErrors))
            add("queue_server/tasks/{status}", method, operation(
                "queue_tasks_status_\(method)\(suffix)", "Tasks of one status.", tags: ["queue"], security: queue,
                parameters: [statusParameter] + query.dropFirst(), body: body,
                ok: response("Task summary.", ref("TaskSummary")), errors: queueErrors + [404]))
            add("queue_server/diff", method, operation(
                "queue_diff_\(method)\(suffix)", "Tasks the client lacks (plus running ones) and stale client uids.",
                tags: ["queue"], security: queue,
                parameters: method == "get" ? [queryParameter("uids", "Task uids the client holds (comma-separated).")] + listQuery : [],
                body: method == "post" ? schema(["uids": stringOrList, "status": stringOrList, "complete": flag, "__zeo": string]) : nil,
                ok: response("Diff summary.", ref("TaskSummary")), errors: queueErrors))
            add("queue_server/uids", method, operation(
                "queue_uids_\(method)\(suffix)", "Object uids of tasks of the given statuses.", tags: ["queue"], security: queue,
                parameters: method == "get" ? [listQuery[0]] : [], body: method == "post" ? schema(["status": stringOrList]) : nil,
                ok: response("Uid summary.", ref("UIDSummary")), errors: queueErrors))
            add("queue_server/uids/{status}", method, operation(
                "queue_uids_status_\(method)\(suffix)", "Object uids of tasks of one status.", tags: ["queue"], security: queue,
                parameters: [statusParameter], body: method == "post" ? schema([:]) : nil,
                ok: response("Uid summary.", ref("UIDSummary")), errors: queueErrors + [404]))
            add("queue_server/search", method, operation(
                "queue_search_\(method)\(suffix)", "Tasks (any status) for an object uid, optionally of one name.",
                tags: ["queue"], security: queue,
                parameters: method == "get" ? [
                    queryParameter("uid", "Object uid (required)."), queryParameter("name", "Task name."),
                    queryParameter("complete", "Complete task dicts.", schema: flag),
                ] : [],
                body: method == "post" ? schema(["uid": string, "name": string, "complete": flag], required: ["uid"]) : nil,
                ok: response("Task summary.", ref("TaskSummary")), errors: queueErrors))
            add("queue_server/requeue/{task_uid}", method, operation(
                "queue_requeue_uid_\(method)\(suffix)", "Puts a task of any status back in the queue, retries reset.",
                tags: ["queue"], security: queue, parameters: [taskUIDParameter],
                body: method == "post" ? schema(["consumer_id": string, "lease_token": string]) : nil,
                ok: response("Task message.", ref("TaskMessage")), errors: queueErrors + [404, 409, 412]))
            add("queue_server/{task_uid}", method, operation(
                "queue_task_\(method)\(suffix)", "One task, complete.", tags: ["queue"], security: queue,
                parameters: [taskUIDParameter], body: method == "post" ? schema([:]) : nil,
                ok: response("The task.", ref("TaskComplete")), errors: queueErrors + [404, 412]))
        }
        let taskBody = ref("NewTask")
        add("queue_server/add", "post", operation(
            "queue_add\(suffix)", "Adds one task or a list of tasks; duplicates and non-unique ones are ignored (outcomes).",
            tags: ["queue"], security: queue, body: object(["oneOf": .array([taskBody, array(taskBody)])]),
            ok: response("Added tasks.", ref("TaskSummary")), errors: queueErrors + [406]))
        let batchMax = bounded("integer", 1, 256)
        add("queue_server/pop", "post", operation(
            "queue_pop\(suffix)", "Claims the next task for a consumer, waiting up to `wait` seconds; {} when none. With "
                + "`max` (an extension for batched consumers) claims up to `max` tasks at once (the consumer's running "
                + "tasks count against it; no purge rule) and answers them as `tasks`.",
            tags: ["queue"], security: queue,
            body: schema(["consumer_id": object(["type": "string", "minLength": 4, "maxLength": 256]), "wait": bounded("number", 0, 30),
                          "max": batchMax],
                         required: ["consumer_id"]),
            ok: response("The claimed task (complete) or {}; with `max`, the claimed tasks.",
                         object(["anyOf": .array([ref("TaskComplete"), ref("ClaimedTasks")])])),
            errors: queueErrors + [428]))
        let consumerID = object(["type": "string", "maxLength": 256])
        let claim: KeyValuePairs<String, JSONValue> = ["task_uid": taskUID, "consumer_id": consumerID, "lease_token": string]
        add("queue_server/done", "post", operation(
            "queue_done\(suffix)", "Finishes a running task; with pop: true also claims the consumer's next task (next). "
                + "With `tasks` (an extension for batched consumers) finishes every listed task whose lease holds, and "
                + "with `max` claims up to `max` tasks in the same transaction (`next`, a list).",
            tags: ["queue"], security: queue,
            body: schema(["task_uid": taskUID, "consumer_id": consumerID, "lease_token": string, "pop": flag,
                          "wait": bounded("number", 0, 30), "tasks": array(ref("TaskReport")), "max": batchMax]),
            ok: response("Task message; with `tasks`, the batch report.",
                         object(["anyOf": .array([ref("TaskMessage"), ref("BatchReport")])])),
            errors: queueErrors + [404, 409, 412, 428]))
        add("queue_server/fail", "post", operation(
            "queue_fail\(suffix)", "Fails a running task (queued again while retries remain; `retry: false` fails it "
                + "now). error_message is kept up to 4,000 characters. With `tasks` (an extension "
                + "for batched consumers) fails every listed task whose lease holds, each with its own error_message.",
            tags: ["queue"], security: queue,
            body: schema(["task_uid": taskUID, "consumer_id": consumerID, "lease_token": string, "error_message": string,
                          "retry": boolean, "tasks": array(ref("TaskReport"))]),
            ok: response("Task message; with `tasks`, the batch report.",
                         object(["anyOf": .array([ref("TaskMessage"), ref("BatchReport")])])),
            errors: queueErrors + [404, 409, 412]))
        add("queue_server/timeout", "post", operation(
            "queue_timeout\(suffix)", "Times out a running task (its max_seconds grows).", tags: ["queue"], security: queue,
            body: schema(claim, required: ["task_uid"]),
            ok: response("Task message.", ref("TaskMessage")), errors: queueErrors + [404, 409, 412]))
        add("queue_server/requeue", "post", operation(
            "queue_requeue\(suffix)", "Puts a task of any status back in the queue, retries reset.", tags: ["queue"],
            security: queue, body: schema(claim, required: ["task_uid"]),
            ok: response("Task message.", ref("TaskMessage")), errors: queueErrors + [404, 409, 412]))
        add("queue_server/delete", "post", operation(
            "queue_delete\(suffix)", "Removes a task of any status.", tags: ["queue"], security: queue,
            body: schema(["task_uid": taskUID], required: ["task_uid"]),
            ok: response("Task message.", ref("TaskMessage")), errors: queueErrors + [404, 412]))

        // LIMS JSON API
        add("login", "post", operation(
            "lims_login\(suffix)", "Checks a password and sets the __ac session cookie (8 hours). Failed logins are "
                + "rate limited per user and per address (429 with Retry-After). senaite.jsonapi's __ac_name and __ac_password "
                + "are read when username and password are absent, from a JSON body, a form body or the query string.",
            tags: ["lims"], security: nil,
            body: schema(["username": text, "password": text], required: ["username", "password"]), bodyRequired: true,
            ok: response("Logged in.", ref("Login")), errors: [400, 401, 413, 429]))
        for method in ["get", "post"] {
            add("logout", method, operation(
                "lims_logout_\(method)\(suffix)", "Clears the session cookie.", tags: ["lims"], security: nil,
                ok: response("Logged out.", ref("Success")), errors: method == "post" ? [400, 413] : []))
        }
        let limsErrors = [400, 401, 403, 413, 429]
        let sampleBody = object(["oneOf": .array([
            schema([
                "portal_type": object(["type": "string", "enum": ["AnalysisRequest"]]),
                "Client": string, "Contact": string, "SampleType": string, "Analyses": stringOrList,
                "Priority": object(["type": "integer", "minimum": 1, "maximum": 5]), "ClientSampleID": string,
            ], required: ["Client", "Contact", "SampleType", "Analyses"]),
            schema([
                "portal_type": object(["type": "string", "enum": ["Contact"]]),
                "Client": string, "Firstname": string, "Surname": string, "EmailAddress": string,
            ], required: ["portal_type", "Client", "Firstname", "Surname"]),
        ])])
        add("create", "post", operation(
            "lims_create\(suffix)", "Creates a sample (portal_type AnalysisRequest) with its analyses, or a client Contact (lab managers).", tags: ["lims"],
            security: lims, body: sampleBody, bodyRequired: true,
            ok: response("The sample.", ref("Items")), errors: limsErrors + [403, 409]))
        add("create/{portal_type}", "post", operation(
            "lims_create_type\(suffix)", "Creates a sample; the portal type (AnalysisRequest) in the path.", tags: ["lims"],
            security: lims, parameters: [pathParameter("portal_type", "AnalysisRequest.")], body: sampleBody, bodyRequired: true,
            ok: response("The sample.", ref("Items")), errors: limsErrors + [403, 409]))
        let result = object(["type": .array(["string", "number", "null"])])
        add("update", "post", operation(
            "lims_update\(suffix)", "Sets (or clears with null) an analysis result.", tags: ["lims"], security: lims,
            body: schema(["uid": name, "Result": result], required: ["uid", "Result"]), bodyRequired: true,
            ok: response("The analysis.", ref("Items")), errors: limsErrors + [403, 404, 409]))
        add("update/{uid}", "post", operation(
            "lims_update_uid\(suffix)", "Sets (or clears with null) the result of the analysis in the path.", tags: ["lims"],
            security: lims, parameters: [pathParameter("uid", "Analysis uid.", schema: objectUID)],
            body: schema(["Result": result], required: ["Result"]), bodyRequired: true,
            ok: response("The analysis.", ref("Items")), errors: limsErrors + [403, 404, 409]))
        add("workflow_action", "post", operation(
            "lims_workflow_action\(suffix)", "Runs a transition on objects; worksheet actions may be queued (task_uid).",
            tags: ["lims"], security: lims,
            body: schema(["action": name, "uids": stringOrList, "context_uid": name], required: ["action", "uids"]),
            bodyRequired: true,
            ok: response("Per-object outcomes, or the queued task.", ref("WorkflowAction")), errors: limsErrors + [409]))
        add("worksheet/create", "post", operation(
            "lims_worksheet_create\(suffix)", "Creates a worksheet, optionally applying a template.", tags: ["lims"],
            security: lims, body: schema(["analyst": string, "template": string, "instrument": string], required: ["analyst"]),
            bodyRequired: true, ok: response("The worksheet.", ref("Items")), errors: limsErrors + [403, 409]))
        add("worksheet/add_analyses", "post", operation(
            "lims_worksheet_add_analyses\(suffix)", "Adds routine analyses to a worksheet.", tags: ["lims"], security: lims,
            body: schema(["worksheet_uid": string, "uids": stringOrList,
                          "slots": array(object(["type": "integer", "minimum": 1]))], required: ["worksheet_uid", "uids"]),
            bodyRequired: true, ok: response("Per-analysis outcomes and the worksheet.", ref("AddAnalyses")),
            errors: limsErrors + [404, 409]))
        add("worksheet/apply_template", "post", operation(
            "lims_worksheet_apply_template\(suffix)", "Applies a worksheet template.", tags: ["lims"], security: lims,
            body: schema(["worksheet_uid": string, "template_uid": string], required: ["worksheet_uid", "template_uid"]),
            bodyRequired: true, ok: response("The worksheet.", ref("Items")), errors: limsErrors + [404, 409]))
        add("contact/link_user", "post", operation(
            "lims_contact_link_user\(suffix)", "Links a client contact to a login (created with role Client when new) and "
                + "re-indexes the client's security, queued while the queue is ready (task_uid). Lab managers only. "
                + "password: required for a new user, refused for an existing one (linking never changes a password). "
                + "A link already in place re-indexes nothing (queued: false); while a walk of the client waits, its task_uid is given "
                + "instead of a second walk.",
            tags: ["lims"], security: lims,
            body: schema(["contact_uid": name, "username": name, "password": object(["type": "string", "maxLength": 72])], required: ["contact_uid", "username"]),
            bodyRequired: true, ok: response("The link.", object(["type": "object"])), errors: limsErrors + [403, 409]))
        add("queue_status", "get", operation(
            "lims_queue_status\(suffix)", "The queue's status: ready, resuming or disabled, and the objects in queued or running tasks.",
            tags: ["lims"], security: lims,
            ok: response("The status.", schema(["success": flag, "status": object(["type": "string", "enum": ["ready", "resuming", "disabled"]]),
                                                "queued": integer, "url": string], required: ["status"])),
            errors: [401, 429]))
        add("queue_statistics", "get", operation(
            "lims_queue_statistics\(suffix)", "Per task name figures over the history since `since` (default: the last hour), "
                + "and the queued, running and failed task counts. Lab managers only.",
            tags: ["lims"], security: lims,
            parameters: [queryParameter("since", "Epoch seconds.", schema: object(["type": "number"]))],
            ok: response("The statistics.", object(["type": "object"])), errors: [400, 401, 403, 404, 429]))
        // User accounts (issue 13, finding 18).
        let userObject = schema(["success": flag, "user": object(["type": "object"]), "ended_sessions": integer, "url": string],
                                required: ["success"])
        add("users", "get", operation(
            "lims_users\(suffix)", "The lab's users (no password hashes). Lab managers only.", tags: ["lims"], security: lims,
            ok: response("The users.", object(["type": "object"])), errors: [401, 403, 429]))
        add("users/create", "post", operation(
            "lims_users_create\(suffix)", "Adds a user with lab roles. Lab managers only (a Manager to grant Manager).",
            tags: ["lims"], security: lims,
            body: schema(["username": string, "password": string, "roles": stringOrList, "fullname": string, "email": string],
                         required: ["username", "password", "roles"]),
            bodyRequired: true, ok: response("The user.", userObject), errors: limsErrors + [403, 409]))
        add("users/update", "post", operation(
            "lims_users_update\(suffix)", "Changes a user's roles, name, e-mail, password (a reset) or active flag; a reset or "
                + "a deactivation ends the user's sessions. Lab managers only.",
            tags: ["lims"], security: lims,
            body: schema(["username": string, "roles": stringOrList, "fullname": string, "email": string, "password": string,
                          "active": object(["type": "boolean"])], required: ["username"]),
            bodyRequired: true, ok: response("The user.", userObject), errors: limsErrors + [403, 404]))
        add("users/change_password", "post", operation(
            "lims_users_change_password\(suffix)", "Changes the signed-in user's own password; ends every session of the user.",
            tags: ["lims"], security: lims,
            body: schema(["current_password": string, "new_password": string], required: ["current_password", "new_password"]),
            bodyRequired: true, ok: response("Changed.", object(["type": "object"])), errors: limsErrors + [403]))
        // The user's own background work (issue 13, finding 12).
        add("my_tasks", "get", operation(
            "lims_my_tasks\(suffix)", "The signed-in user's own queued, running and failed tasks.", tags: ["lims"], security: lims,
            parameters: [
                queryParameter("status", "Statuses (comma-separated): queued, running, failed."),
                queryParameter("limit", "Tasks at most, 1...500 (default: every task).",
                               schema: object(["type": "integer", "minimum": 1, "maximum": 500])),
                queryParameter("b_start", "Tasks skipped, newest first (default 0).", schema: object(["type": "integer", "minimum": 0])),
            ],
            ok: response("The tasks.", object(["type": "object"])), errors: [400, 401, 404, 429]))
        for action in ["retry", "dismiss"] {
            add("my_tasks/\(action)", "post", operation(
                "lims_my_tasks_\(action)\(suffix)", action == "retry" ? "Requeues a failed task of the user (retries reset)."
                    : "Removes a failed task of the user from the queue.", tags: ["lims"], security: lims,
                body: schema(["task_uid": string], required: ["task_uid"]), bodyRequired: true,
                ok: response("The task.", object(["type": "object"])), errors: limsErrors + [404, 409]))
        }
        let listingParameters: [JSONValue] = [
            queryParameter("review_state", "Workflow states (comma-separated)."),
            queryParameter("getServiceUID", "Analysis service uids (analyses only)."),
            queryParameter("getClientUID", "Client uids (AnalysisRequest and Contact only)."),
            queryParameter("sort_on", "id, created or path.", schema: object(["type": "string", "enum": ["id", "created", "path"]])),
            queryParameter("sort_order", "ascending or descending.",
                               schema: object(["type": "string", "enum": ["ascending", "descending", "asc", "desc", "reverse"]])),
            queryParameter("page", "Page, from 1.", schema: object(["type": "integer", "minimum": 1])),
            queryParameter("b_start", "Index of the page's first item, from 0 (senaite.jsonapi; wins over page).",
                               schema: object(["type": "integer", "minimum": 0])),
            queryParameter("q", "Text the object's id contains (case-insensitive)."),
            queryParameter("limit", "Page size, 1...500 (default 50).", schema: object(["type": "integer", "minimum": 1, "maximum": 500])),
        ]
        add("{name}", "get", operation(
            "lims_get\(suffix)", "A listing when name is a portal type, in any case (filtered, sorted, paged; only objects "
                + "the user may see), else the object with that uid. A listing's `count` is exact up to 1,000 objects past its "
                + "page; past that `count_exact` is false, `count` is a lower bound and `pages` the pages known to exist "
                + "(`next` is always right).", tags: ["lims"], security: lims,
            parameters: [
                pathParameter("name", "A portal type (Client, Contact, AnalysisRequest, Analysis, Worksheet, ...) or an object uid.",
                              schema: object(["type": "string", "minLength": 1,
                                              "examples": ["AnalysisRequest", "Analysis", "Client", "Contact", "Worksheet",
                                                           "SampleType", "AnalysisService", "WorksheetTemplate", "User"]])),
            ] + listingParameters,
            ok: response("A listing, or the object as a one-item listing.", ref("Listing")), errors: [400, 401, 404, 429]))
        // Lower-case portal type names that are also the first part of literal routes (worksheet/create,
        // contact/link_user) have routes of their own (LimsAPIController.resourcesShadowedByRoutes).
        for resource in ["contact", "worksheet"] {
            add(resource, "get", operation(
                "lims_get_\(resource)\(suffix)", "The \(resource) listing, as `{name}` lists it.", tags: ["lims"], security: lims,
                parameters: listingParameters,
                ok: response("A listing.", ref("Listing")), errors: [400, 401, 429]))
        }
        return paths
    }

    static func components() -> JSONValue {
        var responses: [String: JSONValue] = [:]
        for (code, description) in errorDescriptions {
            var item: [String: JSONValue] = ["description": .string(description), "content": json(ref("Error"))]
            if code == 429 {
                item["headers"] = object(["Retry-After": object(["description": "Seconds to wait.", "schema": integer])])
            }
            responses["E\(code)"] = .object(item)
        }
        let taskShort = schema([
            "task_uid": string, "name": string, "priority": integer, "status": nullable("string"), "created": string,
            "retries": integer, "username": string, "task_url": string,
        ], required: ["task_uid", "name", "status", "task_url"])
        let taskComplete = schema([
            "task_uid": string, "name": string, "context_uid": string, "context_path": string, "uids": stringList,
            "created": number, "status": nullable("string"), "error_message": nullable("string"), "min_seconds": integer,
            "max_seconds": integer, "priority": integer, "retries": integer, "unique": boolean, "chunk_size": integer,
            "username": string, "delay": number, "started": number, "consumer_id": string, "lease_token": string,
            "task_url": string,
        ])
        let labItem = schema([
            "uid": string, "id": string, "path": string, "portal_type": string, "review_state": nullable("string"),
            "parent_uid": nullable("string"), "url": string,
        ], required: ["uid", "portal_type", "url"])
        let schemas: [String: JSONValue] = [
            "Error": schema(["success": object(["const": false]), "message": string, "status": integer,
                             "task_uid": string], required: ["success", "message"]),
            "Success": schema(["success": boolean], required: ["success"]),
            "Version": schema(["url": string, "version": string, "date": string, "success": boolean],
                              required: ["version", "success"]),
            "TaskShort": taskShort,
            "TaskComplete": taskComplete,
            "NewTask": schema([
                "task_uid": taskUID, "name": object(["type": "string", "minLength": 1, "maxLength": 200]),
                "context_uid": text, "context_path": text, "uids": stringList,
                "created": bounded("number", 0, 1e11), "min_seconds": bounded("integer", 0, 3600),
                "max_seconds": object(["type": "integer", "minimum": 0, "maximum": 604_800,
                                       "description": "Seconds of the task's lease. Below 30 the max_seconds_unlock setting (120 by default) is stored instead, as senaite.queue does."]),
                "priority": bounded("integer", -1_000_000, 1_000_000),
                "retries": bounded("integer", 0, 1000), "unique": boolean, "chunk_size": bounded("integer", 0, 1_000_000),
                "username": string, "delay": bounded("number", 0, 31_536_000),
            ], required: ["name", "context_uid", "context_path"]),
            "TaskSummary": schema([
                "count": integer, "items": array(object(["oneOf": .array([ref("TaskShort"), ref("TaskComplete")])])),
                "url": string, "zeo": string, "since_time": number, "stale": stringList, "unknown": stringList,
                "outcomes": object(["type": "object", "additionalProperties": string]),
            ], required: ["count", "items", "url"]),
            "UIDSummary": schema(["count": integer, "items": stringList, "url": string, "zeo": string],
                                 required: ["count", "items", "url"]),
            "TaskReport": schema(["task_uid": taskUID, "lease_token": string, "error_message": string, "retry": boolean],
                                 required: ["task_uid"]),
            "ClaimedTasks": schema(["tasks": array(ref("TaskComplete")), "count": integer], required: ["tasks", "count"]),
            "BatchReport": schema([
                "done": stringList, "failed": stringList,
                "refused": array(schema(["task_uid": string, "status": integer, "message": string],
                                        required: ["task_uid", "status", "message"])),
                "next": array(ref("TaskComplete")), "url": string,
            ], required: ["refused"]),
            "TaskMessage": schema(["message": string, "task": ref("TaskShort"), "url": string, "zeo": string,
                                   "next": ref("TaskComplete")], required: ["message", "task", "url"]),
            "Login": schema(["success": boolean, "userid": string, "fullname": string, "roles": stringList, "expires": number],
                            required: ["success", "userid", "expires"]),
            "LabItem": labItem,
            "Listing": schema([
                "success": boolean, "count": integer, "count_exact": boolean, "pagesize": integer, "page": integer, "pages": integer,
                "items": array(ref("LabItem")), "next": nullable("string"), "previous": nullable("string"), "url": string,
            ], required: ["success", "count", "items", "url"]),
            "Items": schema(["success": boolean, "count": integer, "items": array(ref("LabItem")), "url": string,
                             "template_application": object(["type": "object"])],
                            required: ["success", "count", "items", "url"]),
            "ItemOutcome": schema(["uid": string, "success": boolean, "message": string, "guard": nullable("string"),
                                   "review_state": nullable("string")], required: ["uid", "success", "message"]),
            "WorkflowAction": schema([
                "success": boolean, "action": string, "items": array(ref("ItemOutcome")), "queued": boolean,
                "task_uid": string, "uids": stringList, "message": string, "url": string,
            ], required: ["success", "action", "url"]),
            "AddAnalyses": schema(["success": boolean, "items": array(ref("ItemOutcome")), "worksheet": labItem, "url": string],
                                  required: ["success", "items", "worksheet", "url"]),
        ]
        return object([
            "securitySchemes": object([
                "queueToken": object(["type": "apiKey", "in": "header", "name": "X-Queue-Auth-Token",
                                      "description": "Fernet token of \"<expiry>:<user id>\" under the queue auth key."]),
                "basicAuth": object(["type": "http", "scheme": "basic"]),
                "sessionCookie": object(["type": "apiKey", "in": "cookie", "name": "__ac",
                                         "description": .string("Session from login. State-changing requests with only the cookie "
                                             + "must also send X-Requested-With or a same-origin Origin/Referer (CSRF).")]),
            ]),
            "responses": .object(responses),
            "schemas": .object(schemas),
        ])
    }
}

/// Renders a ``JSONValue`` as block-style YAML: mappings with sorted keys, sequences with `- `, strings always
/// double-quoted with JSON escapes (valid YAML 1.2 double-quoted scalars), empty collections as `{}`/`[]`.
public enum YAMLRenderer {
    /// The YAML text of `value`, ending with a newline.
    public static func render(_ value: JSONValue) -> String {
        var output = ""
        write(value, indent: 0, into: &output, inline: false)
        return output.hasSuffix("\n") ? output : output + "\n"
    }

    static func scalar(_ value: JSONValue) -> String? {
        switch value {
        case .null: return "null"
        case .bool(let flag): return flag ? "true" : "false"
        case .int, .double, .string: return value.jsonString
        case .array(let items) where items.isEmpty: return "[]"
        case .object(let members) where members.isEmpty: return "{}"
        default: return nil
        }
    }

    static func key(_ text: String) -> String { JSONValue.string(text).jsonString }

    static func write(_ value: JSONValue, indent: Int, into output: inout String, inline: Bool) {
        let pad = String(repeating: "  ", count: indent)
        switch value {
        case .object(let members) where !members.isEmpty:
            for (index, name) in members.keys.sorted().enumerated() {
                let member = members[name]!
                let prefix = (inline && index == 0) ? "" : pad
                if let text = scalar(member) {
                    output += "\(prefix)\(key(name)): \(text)\n"
                } else {
                    output += "\(prefix)\(key(name)):\n"
                    write(member, indent: indent + 1, into: &output, inline: false)
                }
            }
        case .array(let items) where !items.isEmpty:
            for item in items {
                if let text = scalar(item) {
                    output += "\(pad)- \(text)\n"
                } else {
                    output += "\(pad)- "
                    write(item, indent: indent + 1, into: &output, inline: true)
                }
            }
        default:
            output += pad + (scalar(value) ?? "null") + "\n"
        }
    }
}
