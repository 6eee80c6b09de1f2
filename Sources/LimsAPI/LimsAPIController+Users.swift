import Foundation
import Hummingbird
import LabActions
import LIMSCore
import QueueCore
import QueueServer

/// User accounts over the JSON API (``UserAccounts``):
/// - `GET users` (lab managers) → `{items: [{userid, fullname, email, roles, active, linked_contact_uid}]}`;
/// - `POST users/create` {username, password, roles: [role], fullname?, email?} (lab managers);
/// - `POST users/update` {username, roles?, fullname?, email?, password?, active?} (lab managers; a password reset
///   or `active: false` ends the user's sessions; the answer says how many in `ended_sessions`);
/// - `POST users/change_password` {current_password, new_password} (every user, for themselves): ends every
///   session of the user, this one included (the answer clears the cookie).
///
/// Errors name the field (400), 403 for users who may not, 404 for an unknown `username`.
extension LimsAPIController {
    /// The accounts of this controller's lab and sessions (shared with the web pages).
    public var userAccounts: UserAccounts { UserAccounts(repository: repository, sessions: sessions, clock: clock, uids: uids) }
    var accounts: UserAccounts { userAccounts }

    /// A user as `{userid, fullname, email, roles, active, linked_contact_uid}` (no password hash).
    static func userJSON(_ user: User) -> JSONValue {
        .object([
            "userid": .string(user.userid), "fullname": .string(user.fullname), "email": .string(user.email),
            "roles": .array(user.roles.sorted().map { .string($0.rawValue) }), "active": .bool(user.isActive),
            "linked_contact_uid": user.linkedContactUID.map(JSONValue.string) ?? .null,
        ])
    }

    @Sendable func listUsers(_ request: Request, context: QueueRequestContext) async throws -> Response {
        let users = try await accounts.list(actor: context.userID ?? "")
        return LimsResponse.make([
            "success": .bool(true), "count": .int(users.count), "items": .array(users.map(Self.userJSON)),
            "url": .string(Self.apiURL(request) + "/users"),
        ])
    }

    @Sendable func createUser(_ request: Request, context: QueueRequestContext) async throws -> Response {
        let payload = try await LimsPayload.read(request, context: context)
        let username = try payload.checkedName("username", payload.requiredString("username"), maxLength: LoginRules.maxUsernameLength * 4)
        let password = try payload.requiredString("password")
        let roles = try UserAccounts.roles(try payload.requiredStringList("roles").map { try payload.checkedName("roles", $0) })
        let user = try await accounts.create(actor: context.userID ?? "", username: username, password: password, roles: roles,
                                             fullname: try payload.string("fullname") ?? "", email: try payload.string("email") ?? "")
        return LimsResponse.make(status: .created, ["success": .bool(true), "user": Self.userJSON(user),
                                                    "url": .string(Self.apiURL(request) + "/users/create")])
    }

    @Sendable func updateUser(_ request: Request, context: QueueRequestContext) async throws -> Response {
        let payload = try await LimsPayload.read(request, context: context)
        let username = try payload.checkedName("username", payload.requiredString("username"), maxLength: LoginRules.maxUsernameLength * 4)
        var change = UserAccounts.Change()
        if payload.has("roles") { change.roles = try UserAccounts.roles(try (payload.stringList("roles") ?? []).map { try payload.checkedName("roles", $0) }) }
        change.fullname = try payload.string("fullname")
        change.email = try payload.string("email")
        change.password = try payload.string("password")
        if let active = payload.fields["active"], active != .null {
            guard case .bool(let flag) = active else { throw QueueAPIError(.badRequest, "Field 'active' must be true or false") }
            change.active = flag
        }
        guard change != UserAccounts.Change() else {
            throw QueueAPIError(.badRequest, "Nothing to change: send roles, fullname, email, password or active")
        }
        let (user, ended) = try await accounts.update(actor: context.userID ?? "", username: username, change)
        return LimsResponse.make(["success": .bool(true), "user": Self.userJSON(user), "ended_sessions": .int(ended),
                                  "url": .string(Self.apiURL(request) + "/users/update")])
    }

    @Sendable func changePassword(_ request: Request, context: QueueRequestContext) async throws -> Response {
        let payload = try await LimsPayload.read(request, context: context)
        guard let current = try payload.string("current_password"), !current.isEmpty else {
            throw QueueAPIError(.badRequest, "Field 'current_password' is required")
        }
        guard let new = try payload.string("new_password"), !new.isEmpty else {
            throw QueueAPIError(.badRequest, "Field 'new_password' is required")
        }
        try await accounts.changeOwnPassword(username: context.userID ?? "", current: current, new: new)
        var response = LimsResponse.make(["success": .bool(true), "message": .string("Password changed; log in again"),
                                          "url": .string(Self.apiURL(request) + "/users/change_password")])
        response.setCookie(Self.expiredSessionCookie)
        return response
    }
}
