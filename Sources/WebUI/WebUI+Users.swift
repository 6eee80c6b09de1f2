import Foundation
import Hummingbird
import LabActions
import LIMSCore
import LimsAPI
import QueueCore
import QueueServer

/// User accounts in the pages (``LimsAPI/UserAccounts``): `/users` for lab managers (add a user, set roles, reset a
/// password, deactivate or reactivate), `/password` for every user (change their own password; every session of
/// theirs ends, so they log in again). Source: issue 13, finding 18.
extension WebUI {
    /// The accounts of this lab and the LIMS API's sessions.
    var accounts: UserAccounts { session.lims.userAccounts }

    /// `GET /users`: the users and the forms (lab managers).
    @Sendable func usersPage(_ request: Request, context: QueueRequestContext) async throws -> Response {
        let (user, state) = try await signedIn(context)
        guard user.isLabManager else { throw WebError.forbidden("Managing users needs the LabManager or Manager role; \(user.userid) has neither.") }
        let users = try await accounts.list(actor: user.userid)
        let roles = UserAccounts.labRoles.map(\.rawValue).sorted()
        let rows: [[String: Any]] = users.map { account in
            [
                "userid": account.userid, "fullname": account.fullname, "email": account.email,
                "roles": account.roles.map(\.rawValue).sorted().joined(separator: ", "), "active": account.isActive,
                "isClient": account.linkedContactUID != nil, "isSelf": account.userid == user.userid,
                "roleOptions": roles.map { ["role": $0, "checked": account.roles.contains(Role(rawValue: $0)!)] },
            ]
        }
        let chrome = await chrome(request, user: user, state: state, tab: "users")
        return renderer.page("users", title: "Users", chrome: chrome,
                             data: ["rows": rows, "roleOptions": roles.map { ["role": $0, "checked": false] }])
    }

    /// `POST /users` {action: add|roles|reset|deactivate|activate, username, roles, password, fullname, email}.
    @Sendable func usersAction(_ request: Request, context: QueueRequestContext) async throws -> Response {
        let (user, _) = try await signedIn(context)
        var request = request
        let form = try await WebForm.read(&request, context: context)
        let username = form.nonEmpty("username") ?? ""
        do {
            let message: String
            switch form.value("action") {
            case "add":
                let roles = try UserAccounts.roles(form.values("roles"))
                guard !roles.isEmpty else { throw QueueAPIError(.badRequest, "Field 'roles': choose at least one role") }
                _ = try await accounts.create(actor: user.userid, username: username, password: form.value("password") ?? "", roles: roles,
                                              fullname: form.value("fullname") ?? "", email: form.value("email") ?? "")
                message = "User \(username) added."
            case "roles":
                let roles = try UserAccounts.roles(form.values("roles"))
                _ = try await accounts.update(actor: user.userid, username: username, UserAccounts.Change(roles: roles))
                message = "Roles of \(username) saved."
            case "reset":
                let (_, ended) = try await accounts.update(actor: user.userid, username: username,
                                                           UserAccounts.Change(password: form.value("password") ?? ""))
                message = "Password of \(username) reset; \(ended) session(s) ended."
            case "deactivate", "activate":
                let active = form.value("action") == "activate"
                let (_, ended) = try await accounts.update(actor: user.userid, username: username, UserAccounts.Change(active: active))
                message = active ? "\(username) can log in again." : "\(username) deactivated; \(ended) session(s) ended."
            default:
                throw WebError.badRequest("Field 'action' must be add, roles, reset, deactivate or activate.")
            }
            return Self.redirect("/users", message: message)
        } catch let error as WebError {
            throw error
        } catch {
            return Self.redirect("/users", message: Self.actionErrorText(error), error: true)
        }
    }

    /// `GET /password`: the form to change one's own password.
    @Sendable func passwordPage(_ request: Request, context: QueueRequestContext) async throws -> Response {
        let (user, state) = try await signedIn(context)
        let chrome = await chrome(request, user: user, state: state, tab: "password")
        return renderer.page("password", title: "Change password", chrome: chrome, data: ["minLength": LoginRules.minPasswordLength])
    }

    /// `POST /password` {current_password, new_password, confirm_password}: changes it, ends every session of the
    /// user (this one too) and sends them to the login page.
    @Sendable func passwordAction(_ request: Request, context: QueueRequestContext) async throws -> Response {
        let (user, _) = try await signedIn(context)
        var request = request
        let form = try await WebForm.read(&request, context: context)
        let new = form.value("new_password") ?? ""
        guard new == form.value("confirm_password") else {
            return Self.redirect("/password", message: "The new password and its confirmation differ.", error: true)
        }
        do {
            try await accounts.changeOwnPassword(username: user.userid, current: form.value("current_password") ?? "", new: new)
        } catch {
            return Self.redirect("/password", message: Self.actionErrorText(error), error: true)
        }
        var response = Response.redirect(to: "/login?password_changed=1", type: .normal)
        response.setCookie(LimsAPIController.expiredSessionCookie)
        return response
    }
}
