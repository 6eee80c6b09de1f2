import LIMSCore
import QueueCore
import Storage

/// A test repository that wraps another (the SQL store): what it does not override goes to `base`.
package protocol WrappingRepository: LabRepository {
    /// The repository wrapped.
    var base: any LabRepository { get }
}

extension WrappingRepository {
    package func read<T: Sendable>(_ body: @Sendable (inout LabState, any LabReader) async throws -> T) async throws -> T {
        try await base.read(body)
    }
    package func catalog(_ query: CatalogQuery, visibleTo user: User) async throws -> CatalogPage {
        try await base.catalog(query, visibleTo: user)
    }
    package func queued(among uids: [String]) async throws -> Set<String> { try await base.queued(among: uids) }
    package func user(named userid: String) async throws -> User? { try await base.user(named: userid) }
    package func analysisCounts(ofSamples sampleUIDs: [String]) async throws -> [String: Int] {
        try await base.analysisCounts(ofSamples: sampleUIDs)
    }
    package var securityTree: any SecurityTree { get throws { try base.securityTree } }
}

extension LabRepository {
    /// Tests only: the SQL store under any test wrappers.
    package var sqlStore: SQLLabStore {
        if let store = self as? SQLLabStore { return store }
        if let wrapper = self as? any WrappingRepository { return wrapper.base.sqlStore }
        fatalError("not an SQL store: \(type(of: self))")
    }

    /// Tests only: the whole lab, read from the SQL store (request paths never do this).
    package func load() async throws -> LabState { try await sqlStore.load() }

    /// Tests only: every uid of `portalType` `user` may see, by path.
    package func search(_ portalType: PortalType, visibleTo user: User) async throws -> [String] {
        try await sqlStore.search(portalType, visibleTo: user)
    }
}
