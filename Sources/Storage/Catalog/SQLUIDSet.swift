import SQLKit

/// A column's membership in a list of uids, as the right-hand side of one SQL term: `column \(set)` reads
/// `column IN ($1, $2, ...)` (one bind per uid) or, on PostgreSQL for lists longer than
/// ``SQLLabReader/arrayThreshold``, `column = ANY ($1::text[])` (the whole list as one array bind).
///
/// Why two forms: PostgreSQL plans a prepared statement afresh at each call while its generic plan looks costlier
/// than a fresh one. With one bind per uid that was so for the listing's queued check at 64 uids (192 binds):
/// 1.0-1.5 ms of planning against 0.3 ms of execution, every call (`pg_stat_statements` over 200 API pages of 50
/// samples on a 2,000-sample lab). An array's length is unknown to a generic plan (the planner assumes 10
/// elements), so for longer lists the generic plan is the cheaper one and the statement settles on it (0.03-0.05 ms
/// of planning, same index seeks). Short lists keep one bind each: against an assumed 10, a fresh plan of 1 to 4
/// uids looks cheaper, and an array would be planned at every call, where the padded lists of
/// ``SQLLabReader/rows(in:_:on:)`` settle on their generic plans. SQLite always gets the list form.
struct SQLUIDSet: SQLExpression {
    /// The uids, in the order given (duplicates allowed: the term tests membership).
    let uids: [String]
    /// Whether the list is one array bind (PostgreSQL) instead of a bind per uid.
    let asArray: Bool

    /// A set rendered as `asArray` says.
    init(_ uids: [String], asArray: Bool) {
        self.uids = uids
        self.asArray = asArray
    }

    func serialize(to serializer: inout SQLSerializer) {
        if asArray {
            serializer.write("= ANY (")
            SQLBind(uids).serialize(to: &serializer)
            serializer.write("::text[])")
        } else {
            serializer.write("IN (")
            SQLList(uids.map { SQLBind($0) }).serialize(to: &serializer)
            serializer.write(")")
        }
    }
}
