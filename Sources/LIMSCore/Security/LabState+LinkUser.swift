/// Linking a login to a client contact.
///
/// Source: senaite.core `bika/lims/content/contact.py` (`setUser`, `_linkUser`, `_recursive_reindex_object_security`),
/// reference 3.6; the walk per reference 4 and bug 5.2.
extension LabState {
    /// Links `userid` to a client contact: sets the contact's username, the user's `linkedContactUID`, email
    /// and full name; grants the user the local role `Owner` on the contact's client; adds it to group `Clients`.
    ///
    /// - Returns: uids to re-index (`allowedRolesAndUsers`), in post-order over the client's subtree, ending with
    ///   the client — ``securityReindexOrder(_:_:)``.
    /// - Throws: ``LabError`` `notFound` for an unknown user or contact; `duplicate` when the contact is
    ///   linked to another user or the user to another contact.
    @discardableResult
    public mutating func linkUser(_ userid: String, toContact contactUID: String, walk: Bool = true) throws -> [String] {
        guard let user = user(named: userid) else { throw LabError(.notFound, "No user \(userid)") }
        guard let contact = contacts[contactUID] else { throw LabError.notFound("contact", contactUID) }
        if let linked = contact.username, linked != userid {
            throw LabError(.duplicate, "Contact \(contact.fullname) is already linked to user \(linked)")
        }
        if let other = user.linkedContactUID, other != contactUID {
            throw LabError(.duplicate, "User \(userid) is already linked to another contact")
        }
        // A lab user (a lab contact's login, or any role beyond Client) never becomes a client contact's login:
        // that would give lab staff a client's local roles and overwrite their identity.
        if labContacts.values.contains(where: { $0.username == userid })
            || !user.roles.isSubset(of: [.client, .owner]) {
            throw LabError(.duplicate, "User \(userid) is a lab user and cannot be linked to a client contact")
        }
        try modify(Contact.self, contactUID) { $0.username = userid }
        try modify(User.self, user.uid) { u in
            u.linkedContactUID = contactUID
            if !contact.email.isEmpty { u.email = contact.email }
            if !contact.fullname.isEmpty { u.fullname = contact.fullname }
            u.groups.insert("Clients")
        }
        try modify(Client.self, contact.clientUID) { c in c.localRoles[userid, default: []].insert(.owner) }
        return walk ? securityReindexOrder(contact.clientUID, self) : []
    }

    /// Unlinks the user of a client contact: removes the local role `Owner` on the client and membership of
    /// group `Clients`, and clears both links.
    /// - Returns: the re-index order of the client's subtree (as for linking); empty if nothing was linked.
    /// - Throws: ``LabError`` `notFound` for an unknown contact.
    @discardableResult
    public mutating func unlinkUser(fromContact contactUID: String) throws -> [String] {
        guard let contact = contacts[contactUID] else { throw LabError.notFound("contact", contactUID) }
        guard let userid = contact.username else { return [] }
        try modify(Contact.self, contactUID) { $0.username = nil }
        if let user = user(named: userid) {
            try modify(User.self, user.uid) { u in
                u.linkedContactUID = nil
                u.groups.remove("Clients")
            }
        }
        try modify(Client.self, contact.clientUID) { c in
            c.localRoles[userid]?.remove(.owner)
            if c.localRoles[userid]?.isEmpty == true { c.localRoles[userid] = nil }
        }
        return securityReindexOrder(contact.clientUID, self)
    }
}
