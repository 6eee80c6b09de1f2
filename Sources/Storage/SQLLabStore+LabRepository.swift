import LIMSCore
import QueueCore

/// ``SQLLabStore`` as the ``LabRepository`` the web layer receives.
extension SQLLabStore: LabRepository {
    /// Runs a unit of work with the default retries (3); a conflict after the last retry is reported as
    /// ``LabRepositoryError`` `conflict`.
    ///
    /// Disfavoured so that calls on the concrete store keep resolving to ``perform(maxRetries:_:afterSave:)``
    /// (which throws ``ConflictError``); calls through `any LabRepository` land here.
    /// - Throws: `body`'s errors, ``LabRepositoryError``, storage errors.
    @_disfavoredOverload
    public func perform<T: Sendable>(_ body: @Sendable (inout LabState) async throws -> T) async throws -> T {
        do {
            return try await perform(maxRetries: 3, body, afterSave: nil)
        } catch let conflict as ConflictError {
            throw LabRepositoryError(.conflict, uids: conflict.uids)
        }
    }

    @_disfavoredOverload
    public func perform<T: Sendable>(enqueuing body: @Sendable (inout LabState) async throws -> (T, [QueueTask])) async throws -> T {
        do {
            return try await perform(maxRetries: 3, enqueuing: body)
        } catch let conflict as ConflictError {
            throw LabRepositoryError(.conflict, uids: conflict.uids)
        }
    }
}
