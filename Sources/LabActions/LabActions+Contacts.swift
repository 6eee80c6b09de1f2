import Foundation
import LIMSCore
import QueueCore

/// Linking a client contact to a login, with the security re-index of the client's subtree.
///
/// Source: senaite.core `Contact._linkUser` (reference 3.6) and senaite.queue's hook on
/// `_recursive_reindex_object_security` (reference 1.12): while the queue is ready the re-index becomes
/// `task_reindex_object_security` (priority 50, ghost, chunk-size objects per task, ending with the client).
extension LabActions {
    /// Task name of the security walk (``LimsTaskKind/reindexObjectSecurity``).
    public static let reindexSecurityTaskName = LimsTaskKind.reindexObjectSecurity

    /// What linking did: the user, and either the queued walk or the number of objects re-indexed now.
    public struct LinkOutcome: Sendable {
        /// The linked user id.
        public let userid: String
        /// True when the user was created by this call.
        public let created: Bool
        /// The first task of the queued security walk, when queued.
        public let queuedTask: QueueTask?
        /// Objects re-indexed synchronously (0 when queued).
        public let reindexed: Int
    }

    /// Links `username` to the client contact `contactUID` (creating the user with role Client and `password` when
    /// it does not exist), then re-indexes the client's subtree: queued while the queue is ready, else at once.
    /// Lab managers and managers only. A link that is already in place changes nothing and re-indexes nothing; while
    /// a walk of the client is queued and not started, no second one is queued (``LinkOutcome/queuedTask`` is
    /// that walk).
    /// - Throws: ``LabActionError`` 403 for other users; 400 naming `contact_uid`, `username` or
    ///   `password` (rules of ``LoginRules``: a new user needs a password of 8 characters to 72 bytes; an existing
    ///   user takes none, its password is never changed here); 409 when the contact or the user is already linked
    ///   elsewhere.
    public func linkUser(userID: String?, contactUID: String, username: String, password: String?) async throws -> LinkOutcome {
        if let problem = LoginRules.usernameProblem(username) {
            throw LabActionError(.invalidInput, "Field 'username': \(problem)")
        }
        var newHash: String?
        if let password {
            if let problem = LoginRules.passwordProblem(password) { throw LabActionError(.invalidInput, "Field 'password': \(problem)") }
            newHash = await passwordHasher(password)
        }
        let hash = newHash
        let now = clock.now(), uids = self.uids
        let settings = try await readySettings()
        let (outcome, order) = try await performEnqueuing(action: "link_user", contextUID: contactUID) {
            state, reader -> ((LinkOutcome, [String]), [QueueTask]) in
            let user = try Self.user(userID, in: state)
            try await reader.load([contactUID], into: &state)
            if settings == nil, let clientUID = state.contacts.peek(contactUID)?.clientUID {
                try await reader.loadSubtree(of: clientUID, into: &state) // the walk runs now
            }
            guard user.isLabManager else { throw LabActionError(.forbidden, "\(user.userid) may not link contacts to users") }
            guard let contact = state.contacts[contactUID], let client = state.clients[contact.clientUID] else {
                throw LabActionError(.invalidInput, "Field 'contact_uid': no client contact with uid '\(contactUID)'")
            }
            var created = false
            if state.user(named: username) == nil {
                guard let hash else { throw LabActionError(.invalidInput, "Field 'password' is required for a new user") }
                do {
                    _ = try state.createUser(userid: username, fullname: contact.fullname, email: contact.email, passwordHash: hash,
                                             roles: [.client], uids: uids, now: now)
                } catch let error as LabError {
                    throw LabActionError(error, field: "username")
                }
                created = true
            }
            // Already linked so: nothing changes, nothing is re-indexed (a repeated call queued a whole walk each time).
            let unchanged = !created && contact.username == username && state.user(named: username)?.linkedContactUID == contactUID
                && client.localRoles[username]?.contains(.owner) == true
            let order: [String]
            do {
                order = unchanged ? [] : try state.linkUser(username, toContact: contactUID, walk: settings == nil)
            } catch let error as LabError {
                throw LabActionError(error, field: "contact_uid")
            }
            // A password with an existing user would be dropped without a word: linking never changes a password.
            if !created, hash != nil {
                throw LabActionError(.invalidInput, "Field 'password': user '\(username)' already exists and linking does not change "
                                     + "its password; link without a password, or change it on the user's password page")
            }
            guard let settings, !unchanged else {
                return ((LinkOutcome(userid: username, created: created, queuedTask: nil, reindexed: order.count), order), [])
            }
            // A walk of this client that has not started yet reads the links when it runs: it covers this one too.
            if let queue, let pending = try await queue.tasks(for: client.uid, name: Self.reindexSecurityTaskName).first(where: {
                $0.status == .queued && $0.contextUID == client.uid && $0.extra["walk_last_uid"] == nil
            }) {
                return ((LinkOutcome(userid: username, created: created, queuedTask: pending, reindexed: 0), []), [])
            }
            let task = QueueTask(name: Self.reindexSecurityTaskName, contextUID: client.uid, contextPath: client.path, created: now,
                                 minSeconds: settings.minSeconds, maxSeconds: settings.maxSeconds, priority: 50,
                                 retries: settings.maxRetries, chunkSize: max(1, settings.chunkSize), username: user.userid, ghost: true,
                                 topUID: client.uid)
            return ((LinkOutcome(userid: username, created: created, queuedTask: task, reindexed: 0), []), [task])
        }
        if !order.isEmpty { try await repository.reindexSecurity(order) }
        return outcome
    }
}
