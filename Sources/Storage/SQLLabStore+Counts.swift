import LIMSCore
import SQLKit

/// Counts for the command line (first start, demo preparation): one aggregate query each.
extension SQLLabStore {
    /// True when the lab has no user and no client (a fresh database).
    public func isEmptyLab() async throws -> Bool {
        try await sql.raw("SELECT uid FROM lims_objects WHERE portal_type IN ('User', 'Client') LIMIT 1").first() == nil
    }

    /// How many objects of `portalType` the lab holds.
    public func count(_ portalType: PortalType) async throws -> Int {
        try await sql.raw("SELECT COUNT(*) AS n FROM lims_objects WHERE portal_type = \(bind: portalType.rawValue)").first()?
            .decode(column: "n", as: Int.self) ?? 0
    }

    /// Received samples with at least one unassigned routine analysis (work a worksheet template can pick).
    public func samplesAwaitingAssignment() async throws -> Int {
        try await sql.raw("""
            SELECT COUNT(*) AS n FROM lims_objects s
            WHERE s.portal_type = 'AnalysisRequest' AND s.sort_key IS NOT NULL
              AND EXISTS (SELECT 1 FROM lims_objects a WHERE a.sample_uid = s.uid AND a.portal_type = 'Analysis'
                          AND a.review_state = 'unassigned' AND a.worksheet_uid IS NULL)
            """).first()?.decode(column: "n", as: Int.self) ?? 0
    }
}
