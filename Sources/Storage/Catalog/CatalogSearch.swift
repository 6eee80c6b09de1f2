import LIMSCore
import SQLKit

/// A catalog search's words (``SearchWords/query(_:)``) and, for a samples search, the clients each word names: a
/// sample matches a word when a word of its id or client sample id starts with it, or when its client's name or code
/// has such a word (SENAITE's samples listing searches the client's title too). A client's words are indexed on the
/// client (a few rows), so the clients a word names are one index read, and their samples are found through
/// `lims_catalog_client (client_uid, portal_type, created)`.
struct CatalogSearch: Sendable, Equatable {
    /// The words, the one a page is read by first (``SQLLabStore/rarestFirst(_:of:on:)``).
    var words: [String]
    /// Per word, the clients it names (sorted by path), among those the listing may show; absent: none.
    var named: [String: [CatalogReach.ClientSubtree]] = [:]

    /// A search whose words name the clients of `clients` (word: client uids), each client's path left empty: for
    /// tests of statements that do not sort by path.
    init(words: [String], clients: [String: [String]] = [:]) {
        self.words = words
        named = clients.mapValues { $0.map { CatalogReach.ClientSubtree(uid: $0, path: "") } }
    }

    /// The clients `word` names (sorted by path; empty: none).
    func clients(of word: String) -> [CatalogReach.ClientSubtree] { named[word] ?? [] }

    /// Per word, its index entries (counted up to ``SQLLabStore/searchCountCap``), for a search of several words
    /// (``SQLLabStore/rarestFirst(_:of:on:)``).
    var tokenCounts: [String: Int] = [:]

    /// Of the clients the first word names, those holding few samples (``SQLLabStore/smallClients(_:of:on:)``):
    /// filled for a search sorted by id only.
    var smallClients: Set<String> = []

    /// At most this many clients named by a search's first word are read as streams of their own (each its
    /// samples' index range in the page's order, at most a page's worth); more are read as one `IN` list, sorted as
    /// the database likes (SQLite walks the samples in the page's order: as much as the whole list when those clients
    /// hold few samples). A word that names 101 clients is a letter or two, in a lab with many clients. With 32,
    /// `acme` naming 46 clients of 3 samples each took 324-615 ms at 200,000 samples (a tryout).
    static let maxClientStreams = 100

    /// A named client holding at most this many samples is read by client and sorted for a search sorted by id; a
    /// larger one by walking the ids in order, testing the client (about 1 in 40 of a 200,000-sample lab or more).
    static let smallClientSamples = 5_000

    /// The search of `query` (`text` split into words) with the clients its words name, for `portalType` samples
    /// only; restricted to the clients `reach` and `clientUIDs` (the query's client filter) allow, so that a client
    /// contact's search never walks another client's samples. One statement: the index rows of clients for the
    /// words (a few per client; clients do not grow with samples).
    /// - Throws: storage errors.
    static func of(_ words: [String], portalType: PortalType, reach: CatalogReach, clientUIDs: Set<String>?,
                   on sql: any SQLDatabase) async throws -> CatalogSearch {
        var search = CatalogSearch(words: words)
        guard portalType == .sample, !words.isEmpty else { return search }
        let rows = try await sql.raw("""
            SELECT s.token, s.uid, o.path FROM lims_search s JOIN lims_objects o ON o.uid = s.uid
            WHERE s.portal_type = \(bind: PortalType.client.rawValue) AND s.token IN (\(SQLList(words.map { SQLBind($0) })))
            """).all()
        var allowed: Set<String>? = clientUIDs
        if case .clients(let subtrees) = reach {
            let reachable = Set(subtrees.map(\.uid))
            allowed = allowed.map { $0.intersection(reachable) } ?? reachable
        }
        var named: [String: [CatalogReach.ClientSubtree]] = [:]
        for row in rows {
            let uid = try row.decode(column: "uid", as: String.self)
            if let allowed, !allowed.contains(uid) { continue }
            let client = CatalogReach.ClientSubtree(uid: uid, path: try row.decode(column: "path", as: String.self))
            named[try row.decode(column: "token", as: String.self), default: []].append(client)
        }
        search.named = named.mapValues { $0.sorted { ($0.path, $0.uid) < ($1.path, $1.uid) } }
        return search
    }
}
