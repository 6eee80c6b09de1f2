/// Permission checks and the `allowedRolesAndUsers` catalog index.
///
/// Source: Zope/CMF security as used by senaite.core (`rolemap.xml`, local roles on clients), reference 3.6.
extension LabState {
    /// Local roles `userid` holds on `uid`, inherited from the client whose subtree contains it.
    public func localRoles(of userid: String, on uid: String) -> Set<Role> {
        client(containing: uid)?.localRoles[userid] ?? []
    }

    /// Global roles plus local roles of `user` on `uid`.
    public func effectiveRoles(of user: User, on uid: String) -> Set<Role> {
        user.roles.union(localRoles(of: user.userid, on: uid))
    }

    /// True if `user` holds `permission` on `uid` through a global or a local role.
    public func hasPermission(_ permission: Permission, on uid: String, user: User) -> Bool {
        rolePermissions.grants(permission, to: effectiveRoles(of: user, on: uid))
    }

    /// True if `user` holds the permission `transition` requires on `uid` (true for automatic transitions,
    /// which require none; false for transitions the object's workflow does not have). Guards are not evaluated.
    public func canPerform(_ transition: String, on uid: String, user: User) -> Bool {
        guard let object = object(uid), let definition = LabWorkflows.workflow(for: object)?.transition(transition)
        else { return false }
        guard let permission = definition.permission else { return true }
        return hasPermission(permission, on: uid, user: user)
    }

    /// The `allowedRolesAndUsers` index value of `uid`: the names of the roles holding View site-wide, plus
    /// `user:<id>` for each user holding a local role with View on the object's client.
    ///
    /// ```swift
    /// lab.allowedRolesAndUsers(of: sample.uid)
    /// // ["Analyst", "LabClerk", "LabManager", "Manager", "Owner", "Sampler", "Verifier", "user:jdoe"]
    /// ```
    public func allowedRolesAndUsers(of uid: String) -> Set<String> {
        var result = Set(rolePermissions.roles(for: .view).map(\.rawValue))
        if let client = client(containing: uid) { result.formUnion(userTokens(of: client)) }
        return result
    }

    /// The `user:<id>` part of ``allowedRolesAndUsers(of:)`` of every object in `client`'s subtree (the client
    /// included): one per user holding a local role with View on the client, sorted.
    public func userTokens(of client: Client) -> [String] {
        let viewRoles = rolePermissions.roles(for: .view)
        return client.localRoles.compactMap { userid, roles in roles.isDisjoint(with: viewRoles) ? nil : "user:\(userid)" }.sorted()
    }
}

extension User {
    /// The `allowedRolesAndUsers` tokens that let this user see an object: its roles and `user:<userid>`
    /// (SENAITE's catalog filter). Managers and lab managers see every object whatever its tokens.
    public var visibilityTokens: Set<String> {
        Set(roles.map(\.rawValue) + ["user:\(userid)"])
    }
}

extension LabState {
    /// Whether `user` may see `uid`: lab managers and managers see all, others when one of their
    /// ``User/visibilityTokens`` is among the object's ``allowedRolesAndUsers(of:)`` (the catalog rule the
    /// storage layer applies to listings with the stored tokens).
    public func isVisible(_ uid: String, to user: User) -> Bool {
        if user.isLabManager { return true }
        return !allowedRolesAndUsers(of: uid).isDisjoint(with: user.visibilityTokens)
    }
}

extension LabState {
    /// Whether `user` may manage worksheets (create, apply templates, assign, remove): the Manage Worksheets
    /// permission, and only lab managers when the lab restricts worksheet management (SENAITE's
    /// `RestrictWorksheetManagement` setting). The one place this rule is written.
    public func mayManageWorksheets(_ user: User) -> Bool {
        hasPermission(.manageWorksheets, on: "", user: user) && (!settings.restrictWorksheetManagement || user.isLabManager)
    }
}
