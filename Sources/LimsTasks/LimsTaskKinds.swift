import Consumer
import LIMSCore
import QueueCore

/// The LIMS task kinds of this build, ready to register with a consumer.
///
/// | task name | handler |
/// |---|---|
/// | `task_generic_action`, `task_action_{submit,verify,retract,reject,unassign}` | ``GenericActionHandler`` |
/// | `task_assign_analyses` | ``AssignAnalysesHandler`` |
/// | `task_reindex_object_security` | ``ReindexSecurityHandler`` |
///
/// A lab adds its own kind by writing a ``Consumer/TaskHandler`` and registering it next to these.
public enum LimsTaskKinds {
    /// Handlers acting on `repository`; with `queue`, chunked kinds honour its current chunk size setting.
    public static func handlers(repository: any LabRepository, queue: (any QueueStore)?) -> [any TaskHandler] {
        let chunkSetting = queue.map(ChunkSizeSetting.of) ?? .taskOnly
        var handlers: [any TaskHandler] = GenericActionHandler.names.map {
            GenericActionHandler(name: $0, repository: repository, chunkSetting: chunkSetting)
        }
        handlers.append(AssignAnalysesHandler(repository: repository, chunkSetting: chunkSetting))
        handlers.append(ReindexSecurityHandler(repository: repository))
        return handlers
    }
}
