import Foundation
import LIMSCore

/// The order of a web list (samples, worksheets): by creation or by id, either way, chosen by the list's column
/// headers and kept by its page links and its filter form. Query parameters `sort` (`created`, `id`) and `order`
/// (`asc`, `desc`); absent or unknown: newest first, as SENAITE's listings open. Sorted by id on SQLite, a list
/// with a selective filter reads by it (``Storage/CatalogDrive``); a search sorted by id costs what it matches.
struct ListSort: Equatable, Sendable {
    var field: CatalogQuery.SortField
    var descending: Bool

    /// Newest first.
    static let newestFirst = ListSort(field: .created, descending: true)

    init(field: CatalogQuery.SortField, descending: Bool) {
        self.field = field
        self.descending = descending
    }

    /// The sort a list's query asks (``newestFirst`` for none or one it does not offer). Values are matched in any
    /// case and without surrounding spaces (`sort=ID` sorted newest first, silently; a tryout).
    init(_ parameters: FormQuery) {
        func value(_ name: String) -> String? {
            parameters.get(name)?.trimmingCharacters(in: .whitespaces).lowercased()
        }
        switch value("sort") {
        case "id": field = .id
        case "created": field = .created
        default: self = .newestFirst; return
        }
        switch value("order") {
        case "asc": descending = false
        case "desc": descending = true
        default: descending = field == .created // dates newest first, ids in their order
        }
    }

    /// The query items that ask for this sort: none for ``newestFirst``.
    var queryItems: [URLQueryItem] {
        guard self != .newestFirst else { return [] }
        return [URLQueryItem(name: "sort", value: field == .id ? "id" : "created"),
                URLQueryItem(name: "order", value: descending ? "desc" : "asc")]
    }

    /// What a list's template shows of the sort: `sortByID` and `sortByCreated` (``header(_:path:filters:)``) and
    /// `sortItems`, the filter form's hidden inputs that keep it.
    func templateData(path: String, filters: [URLQueryItem]) -> [String: Any] {
        [
            "sortByID": header(.id, path: path, filters: filters),
            "sortByCreated": header(.created, path: path, filters: filters),
            "sortItems": queryItems.map { ["name": $0.name, "value": $0.value ?? ""] },
        ]
    }

    /// A column header's link and arrow for sorting by `field`, on a list at `path` with its `filters` (page 1): the
    /// other direction of the current sort when it is by `field`, else `field`'s first direction (dates newest
    /// first, ids ascending). `arrow` is "▲"/"▼" on the current sort's column, empty on the others.
    func header(_ field: CatalogQuery.SortField, path: String, filters: [URLQueryItem]) -> [String: Any] {
        let next = self.field == field ? ListSort(field: field, descending: !descending) : ListSort(field: field, descending: field == .created)
        var components = URLComponents()
        components.queryItems = filters + next.queryItems
        let query = components.percentEncodedQuery ?? ""
        return [
            "href": query.isEmpty ? path : path + "?" + query,
            "arrow": self.field == field ? (descending ? " ▼" : " ▲") : "",
            "title": "Sort by \(field == .id ? "id" : "date created"), \(next.descending ? "descending" : "ascending")",
        ]
    }
}
