import Foundation
import HummingbirdBcrypt
import LabActions
import LIMSCore
import QueueCore
import QueueServer

/// User accounts of the lab: lab managers add users, set their roles, reset passwords and deactivate or
/// reactivate them; every user changes their own password. Shared by the JSON API (`users/...`), the
/// `limsqueue users` command and the Users page.
///
/// - A password change, a reset and a deactivation end every session of the user (``SessionStore``).
/// - A deactivated user cannot log in (cookie, HTTP Basic), and their queued tasks fail with a message saying so
///   instead of acting for them.
/// - Lab roles only: Manager, LabManager, LabClerk, Analyst, Verifier, Sampler. Client users are made by linking a
///   client contact (`contact/link_user`, reference 3.6). Only a Manager grants or takes away Manager.
/// - Nobody deactivates themselves or takes away their own right to manage users (no lock-out by mistake).
///
/// Source: Plone's users and groups control panel (`@@usergroup-userprefs`, `@@change-password`) and SENAITE's lab
/// contacts/users; rules on who may do what are this project's (issue 13, finding 18).
public struct UserAccounts: Sendable {
    /// The lab.
    public let repository: any LabRepository
    /// The sessions to end.
    public let sessions: any SessionStore
    /// Wall clock (creation and deactivation instants).
    public let clock: any WallClock
    /// Generator of new object uids.
    public let uids: any UIDGenerator

    /// Roles a user may be given here.
    public static let labRoles: Set<Role> = [.manager, .labManager, .labClerk, .analyst, .verifier, .sampler]

    /// - Parameters:
    ///   - repository: the lab.
    ///   - sessions: where the lab's sessions live.
    ///   - clock: wall clock. Default: the system clock.
    ///   - uids: uid generator. Default: ``LIMSCore/TimeOrderedUIDGenerator``.
    public init(repository: any LabRepository, sessions: any SessionStore, clock: any WallClock = SystemWallClock(),
                uids: any UIDGenerator = TimeOrderedUIDGenerator()) {
        self.repository = repository
        self.sessions = sessions
        self.clock = clock
        self.uids = uids
    }

    /// A change asked by a lab manager; nil fields stay as they are.
    public struct Change: Sendable, Equatable {
        /// New global roles (lab roles only).
        public var roles: Set<Role>?
        /// New full name.
        public var fullname: String?
        /// New e-mail address.
        public var email: String?
        /// New password (a reset): ends the user's sessions.
        public var password: String?
        /// False deactivates (ends the sessions), true reactivates.
        public var active: Bool?

        public init(roles: Set<Role>? = nil, fullname: String? = nil, email: String? = nil, password: String? = nil, active: Bool? = nil) {
            self.roles = roles
            self.fullname = fullname
            self.email = email
            self.password = password
            self.active = active
        }
    }

    /// The users of the lab, by user id. Lab managers only (`actor` nil: the operator at the command line).
    /// - Throws: 403 for other users.
    public func list(actor: String?) async throws -> [User] {
        let state = try await repository.read { state, _ in state } // users are setup objects: in every working set
        if let actor { _ = try Self.manager(actor, in: state) }
        return state.users.values.sorted { $0.userid < $1.userid }
    }

    /// Adds a user with lab `roles` and `password`.
    /// - Parameter actor: the lab manager asking; nil for the operator at the command line.
    /// - Throws: ``QueueServer/QueueAPIError`` 403 unless `actor` is a lab manager (a Manager to grant Manager);
    ///   400 naming `username`, `password`, `roles` or `email`; 409 when the user id is taken.
    @discardableResult
    public func create(actor: String?, username: String, password: String, roles: Set<Role>, fullname: String = "",
                       email: String = "") async throws -> User {
        try Self.validateUsername(username)
        try Self.validateRoles(roles)
        try Self.validateText(fullname: fullname, email: email)
        let hash = try await Self.hash(password, field: "password")
        let now = clock.now(), uids = self.uids
        return try await perform { state, _ in
            if let actor {
                let manager = try Self.manager(actor, in: state)
                if roles.contains(.manager), !manager.roles.contains(.manager) {
                    throw QueueAPIError(.forbidden, "Field 'roles': only a Manager may grant the Manager role")
                }
            }
            do {
                return try state.createUser(userid: username, fullname: fullname, email: email, passwordHash: hash, roles: roles,
                                            uids: uids, now: now)
            } catch let error as LabError {
                throw LimsAPIController.apiError(error, field: "username")
            }
        }
    }

    /// Changes `username` as a lab manager asks: roles, name, e-mail, a password reset, (de)activation. A reset
    /// and a deactivation end the user's sessions.
    /// - Returns: the user after the change, and how many sessions ended.
    /// - Throws: ``QueueServer/QueueAPIError`` 403 (not a lab manager; Manager granted or taken by a non-Manager; a
    ///   change that would lock `actor` out); 404 naming `username`; 400 naming the field.
    @discardableResult
    public func update(actor: String?, username: String, _ change: Change) async throws -> (user: User, endedSessions: Int) {
        if let roles = change.roles { try Self.validateRoles(roles) }
        try Self.validateText(fullname: change.fullname ?? "", email: change.email ?? "")
        var newHash: String?
        if let password = change.password { newHash = try await Self.hash(password, field: "password") }
        let hash = newHash
        let now = clock.now()
        let user = try await perform { state, _ -> User in
            guard let target = state.user(named: username) else {
                throw QueueAPIError(.notFound, "Field 'username': no user '\(username)'")
            }
            if let actor {
                let manager = try Self.manager(actor, in: state)
                let managerChanges = change.roles.map { $0.contains(.manager) != target.roles.contains(.manager) } ?? false
                if (managerChanges || target.roles.contains(.manager)), !manager.roles.contains(.manager) {
                    throw QueueAPIError(.forbidden, "Field 'roles': only a Manager may change a Manager or grant the Manager role")
                }
                if actor == username {
                    if change.active == false { throw QueueAPIError(.forbidden, "Field 'active': you cannot deactivate yourself") }
                    if let roles = change.roles, roles.isDisjoint(with: [.manager, .labManager]) {
                        throw QueueAPIError(.forbidden, "Field 'roles': you cannot take away your own LabManager role")
                    }
                }
            }
            if let roles = change.roles, !target.roles.isSubset(of: Self.labRoles) {
                // A client user keeps its Client role (set by linking its contact); lab roles are not mixed in.
                guard roles.isEmpty || target.linkedContactUID == nil else {
                    throw QueueAPIError(.badRequest, "Field 'roles': \(username) is a client contact's login; its roles come from the contact")
                }
            }
            try state.modify(User.self, target.uid) { user in
                if let roles = change.roles { user.roles = roles.union(user.roles.subtracting(Self.labRoles)) }
                if let fullname = change.fullname { user.fullname = fullname }
                if let email = change.email { user.email = email }
                if let hash { user.passwordHash = hash }
                if let active = change.active { user.deactivated = active ? nil : (user.deactivated ?? now) }
            }
            return state.user(named: username)!
        }
        var ended = 0
        if hash != nil || change.active == false { ended = try await sessions.deleteSessions(userid: username) }
        return (user, ended)
    }

    /// Changes the password of `username` (the signed-in user) after checking the current one; ends every session
    /// of the user (the caller logs in again).
    /// - Throws: ``QueueServer/QueueAPIError`` 403 naming `current_password` when it is wrong; 400 naming
    ///   `new_password`.
    public func changeOwnPassword(username: String, current: String, new: String) async throws {
        let hash = try await Self.hash(new, field: "new_password")
        guard current != new else { throw QueueAPIError(.badRequest, "Field 'new_password' must differ from the current password") }
        try await perform { state, _ in
            guard let user = await LimsAPIController.checkPassword(username: username, password: current, in: state) else {
                throw QueueAPIError(.forbidden, "Field 'current_password': wrong password")
            }
            try state.modify(User.self, user.uid) { $0.passwordHash = hash }
        }
        try await sessions.deleteSessions(userid: username)
    }

    // MARK: Rules

    /// The lab manager `actor`. - Throws: 401 for an unknown user, 403 for another user.
    static func manager(_ actor: String, in state: LabState) throws -> User {
        let user = try LimsAPIController.user(actor, in: state)
        guard user.isLabManager else { throw QueueAPIError(.forbidden, "\(user.userid) may not manage users (lab managers only)") }
        return user
    }

    /// - Throws: 400 naming `username` unless it is 1-64 characters without spaces, '/' or ':'.
    static func validateUsername(_ username: String) throws {
        if let problem = LoginRules.usernameProblem(username) { throw QueueAPIError(.badRequest, "Field 'username': \(problem)") }
    }

    /// - Throws: 400 naming `roles` unless every role is a lab role.
    static func validateRoles(_ roles: Set<Role>) throws {
        let others = roles.subtracting(labRoles)
        guard others.isEmpty else {
            throw QueueAPIError(.badRequest, "Field 'roles': \(others.map(\.rawValue).sorted().joined(separator: ", ")) cannot be given here; "
                                    + "lab roles are \(labRoles.map(\.rawValue).sorted().joined(separator: ", "))")
        }
    }

    /// - Throws: 400 naming `fullname` (over 100 characters) or `email` (not an address).
    static func validateText(fullname: String, email: String) throws {
        guard fullname.count <= 100 else { throw QueueAPIError(.badRequest, "Field 'fullname': at most 100 characters") }
        guard email.isEmpty || (email.count <= 254 && email.contains("@") && !email.contains(where: \.isWhitespace)) else {
            throw QueueAPIError(.badRequest, "Field 'email': not an e-mail address")
        }
    }

    /// The bcrypt hash of a new password (computed off the caller's executor: ``PasswordHashing``).
    /// - Throws: 400 naming `field` unless 8 characters to 72 bytes.
    static func hash(_ password: String, field: String) async throws -> String {
        if let problem = LoginRules.passwordProblem(password) { throw QueueAPIError(.badRequest, "Field '\(field)': \(problem)") }
        return await PasswordHashing.hash(password, cost: LimsAPIController.bcryptCost)
    }

    /// Parses role names (SENAITE's, e.g. `LabManager`). - Throws: 400 naming `roles` for an unknown name.
    public static func roles(_ names: [String]) throws -> Set<Role> {
        Set(try names.map { name in
            guard let role = Role(rawValue: name.trimmingCharacters(in: .whitespaces)) else {
                throw QueueAPIError(.badRequest, "Field 'roles': unknown role '\(name)'; lab roles are "
                                        + labRoles.map(\.rawValue).sorted().joined(separator: ", "))
            }
            return role
        })
    }

    func perform<T: Sendable>(_ body: @Sendable (inout LabState, any LabReader) async throws -> T) async throws -> T {
        do {
            return try await repository.perform(body)
        } catch let error as LabRepositoryError {
            throw QueueAPIError(.conflict, error.description)
        } catch let error as LabError {
            throw LimsAPIController.apiError(error, field: nil)
        }
    }
}
