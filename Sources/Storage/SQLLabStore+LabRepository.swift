import LIMSCore
import QueueCore

/// ``SQLLabStore`` as the ``LabRepository`` the web layer receives.
extension SQLLabStore: LabRepository {
    /// Retries of a unit of work through the repository: 8, with jittered backoff (ZODB, behind SENAITE, retries
    /// 3 times at once; concurrent users of one worksheet need more room, reference 5.6).
    public static let repositoryRetries = 8

    /// Runs a unit of work with up to ``repositoryRetries`` jittered retries; a conflict after the last retry is
    /// reported as ``LabRepositoryError`` `conflict`.
    ///
    /// Disfavoured so that calls on the concrete store keep resolving to ``perform(maxRetries:_:afterSave:)``
    /// (which throws ``ConflictError``); calls through `any LabRepository` land here.
    /// - Throws: `body`'s errors, ``LabRepositoryError``, storage errors.
    @_disfavoredOverload
    public func perform<T: Sendable>(_ body: @Sendable (inout LabState) async throws -> T) async throws -> T {
        do {
            return try await perform(maxRetries: Self.repositoryRetries, body, afterSave: nil)
        } catch let conflict as ConflictError {
            throw LabRepositoryError(.conflict, uids: conflict.uids)
        }
    }

    @_disfavoredOverload
    public func perform<T: Sendable>(enqueuing body: @Sendable (inout LabState) async throws -> (T, [QueueTask])) async throws -> T {
        do {
            return try await perform(maxRetries: Self.repositoryRetries, enqueuing: body)
        } catch let conflict as ConflictError {
            throw LabRepositoryError(.conflict, uids: conflict.uids)
        }
    }
}
