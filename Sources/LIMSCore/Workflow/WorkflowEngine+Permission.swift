/// The permission part of a transition check alone, for work that is queued now and done later.
///
/// Source: DCWorkflow's guard permission and senaite.core's `is_worksheet_management_allowed` (reference 3.1-3.2);
/// issue 13, finding 6 (a queued worksheet action is checked per analysis when it is asked).
extension WorkflowEngine {
    /// Why `user` may not perform `transition` on `uid` at all, or nil when the user's permission allows it (or
    /// the transition does not exist from the object's current state: the task's own checks then skip it).
    ///
    /// The refusal's guard is ``GuardID/permission``. For `assign`/`unassign` SENAITE's rule on who may manage
    /// worksheets (``LabSettings/restrictWorksheetManagement``) counts as part of the permission.
    public static func permissionRefusal(
        _ transition: String, on uid: String, context: TransitionContext, state: LabState
    ) -> GuardRefusal? {
        guard !context.systemAction, let object = state.object(uid), let workflow = LabWorkflows.workflow(for: object),
              let definition = workflow.transition(transition), let permission = definition.permission
        else { return nil }
        let label = state.label(uid)
        if !state.hasPermission(permission, on: uid, user: context.user) {
            return GuardRefusal(GuardID.permission,
                                "\(context.user.userid) may not \(transition) \(label) (needs the '\(permission.rawValue)' permission)")
        }
        if permission == .manageWorksheets,
           let refusal = worksheetManagementRefusal(GuardID.permission, user: context.user, context: context, state: state) {
            return refusal
        }
        return nil
    }
}
