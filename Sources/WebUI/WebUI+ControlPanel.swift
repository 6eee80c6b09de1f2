import Crypto
import Foundation
import Hummingbird
import LabActions
import LIMSCore
import QueueCore
import QueueServer

/// The queue settings at `/queue-controlpanel` (Manage queue): every setting with its range and help text
/// (``QueueSettings/fields``); invalid values are refused with a message on the field and nothing is stored; the
/// auth key can be regenerated after a confirmation step. Source: senaite.queue control panel, reference 1.7.
extension WebUI {
    /// `GET /queue-controlpanel`.
    @Sendable func controlPanel(_ request: Request, context: QueueRequestContext) async throws -> Response {
        let (user, state) = try await signedIn(context)
        try Self.require(.manageQueue, user, in: state, for: "The queue settings")
        let settings = try await queue.settings()
        var values: [String: String] = [:]
        for field in QueueSettings.fields { values[field.key] = try settings.value(forKey: field.key) }
        values["top_priority_tasks"] = settings.topPriorityTasks.joined(separator: "\n")
        return await settingsPage(request, user: user, state: state, values: values, errors: [:], status: .ok)
    }

    /// `POST /queue-controlpanel` {one field per setting}: checks every field; stores all of them when all are
    /// valid (then redirects with "Settings saved"), else answers 400 with the form as sent and a message on each
    /// invalid field.
    @Sendable func saveControlPanel(_ request: Request, context: QueueRequestContext) async throws -> Response {
        let (user, state) = try await signedIn(context)
        try Self.require(.manageQueue, user, in: state, for: "The queue settings")
        var request = request
        let form = try await WebForm.read(&request, context: context)
        var settings = try await queue.settings()
        var values: [String: String] = [:], errors: [String: String] = [:]
        for field in QueueSettings.fields {
            guard let text = form.value(field.key) else {
                values[field.key] = field.key == "top_priority_tasks" ? settings.topPriorityTasks.joined(separator: "\n")
                    : try settings.value(forKey: field.key)
                continue
            }
            values[field.key] = text
            do {
                try settings.set(field.key, to: text)
            } catch let error as QueueError {
                errors[field.key] = Self.fieldMessage(error, key: field.key)
            }
        }
        guard errors.isEmpty else {
            return await settingsPage(request, user: user, state: state, values: values, errors: errors, status: .badRequest)
        }
        try await queue.updateSettings(settings)
        return Self.redirect("/queue-controlpanel", message: "Settings saved.")
    }

    /// `POST /queue-controlpanel/auth-key` {confirm?}: asks first, then stores a new random key.
    @Sendable func regenerateAuthKey(_ request: Request, context: QueueRequestContext) async throws -> Response {
        let (user, state) = try await signedIn(context)
        try Self.require(.manageQueue, user, in: state, for: "Regenerating the auth key")
        guard case .available(let regenerate) = authKeyControl else {
            if case .unavailable(let reason) = authKeyControl { throw WebError.badRequest("The auth key cannot be regenerated here: \(reason)") }
            throw WebError.badRequest("The auth key cannot be regenerated here.")
        }
        var request = request
        let form = try await WebForm.read(&request, context: context)
        if form.value("confirm") != "yes" {
            let data: [String: Any] = [
                "heading": "Regenerate the auth key",
                "question": "Store a new random auth key? " + Self.restartNote,
                "action": "/queue-controlpanel/auth-key", "fields": [[String: Any]](), "hasItems": false,
                "button": "Yes, regenerate the key", "buttonClass": "danger", "cancel": "/queue-controlpanel",
            ]
            let chrome = await chrome(request, user: user, state: state, tab: "settings")
            return renderer.page("confirm", title: "Regenerate the auth key", chrome: chrome, data: data)
        }
        let key = try await regenerate()
        return Self.redirect("/queue-controlpanel",
                             message: "A new auth key is stored (fingerprint \(Self.fingerprint(key))). " + Self.restartNote)
    }

    /// What happens after a regeneration.
    static let restartNote = "Servers and consumers read the key when they start: restart the queue server and every consumer to use it. Until then they keep the current key; after the restart everyone logs in again."

    /// First 12 hex characters of the key's SHA-256 (the key itself is never shown).
    static func fingerprint(_ key: String) -> String {
        SHA256.hash(data: Data(key.utf8)).prefix(6).map { String(format: "%02x", $0) }.joined()
    }

    /// A setting error without the key prefix the CLI shows ("must be in 0...10, got 99").
    static func fieldMessage(_ error: QueueError, key: String) -> String {
        var text = error.message
        for prefix in ["Setting '\(key)' "] where text.hasPrefix(prefix) {
            text = String(text.dropFirst(prefix.count))
        }
        return text.prefix(1).uppercased() + text.dropFirst()
    }

    /// The form with `values` and `errors` per key.
    func settingsPage(_ request: Request, user: User, state: LabState, values: [String: String], errors: [String: String],
                      status: HTTPResponse.Status) async -> Response {
        let fields: [[String: Any]] = QueueSettings.fields.map { field in
            var item: [String: Any] = [
                "key": field.key, "title": field.title, "help": field.help, "value": values[field.key] ?? "",
                "multiline": field.key == "top_priority_tasks", "inputType": field.range == nil ? "text" : "number",
            ]
            if let range = field.range {
                item["range"] = "\(range.lowerBound)–\(range.upperBound)"
                item["min"] = range.lowerBound
                item["max"] = range.upperBound
            }
            if let error = errors[field.key] { item["error"] = error }
            return item
        }
        var data: [String: Any] = ["fields": fields, "keyFingerprint": Self.fingerprint(await session.authKey())]
        switch authKeyControl {
        case .available:
            data["canRegenerate"] = true
            data["regenerateNote"] = Self.restartNote
        case .unavailable(let reason):
            data["regenerateNote"] = reason
        }
        var chrome = await chrome(request, user: user, state: state, tab: "settings")
        if !errors.isEmpty {
            chrome.flash = ("error", "Nothing was saved: \(errors.count) field\(errors.count == 1 ? " has an invalid value" : "s have invalid values").")
        }
        return renderer.page("controlpanel", title: "Queue settings", chrome: chrome, data: data, status: status)
    }
}
