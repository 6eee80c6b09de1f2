import Hummingbird
import QueueServer

/// A page's query string read as an HTML form: what a browser sends for a `GET` form, with `+` for a space (the
/// search box's "Happy Hills" arrives as `q=Happy+Hills`; Hummingbird's `queryParameters` kept the `+`).
/// Decoded by ``QueueServer/FormBody/pairs(_:)``; a malformed escape is kept as sent.
struct FormQuery: Sendable {
    private let values: [String: String]

    /// The query of `request`, first value per name.
    init(_ request: Request) {
        var values: [String: String] = [:]
        for pair in FormBody.pairs(request.uri.query ?? "") where values[pair.name] == nil {
            values[pair.name] = pair.value
        }
        self.values = values
    }

    /// The first value of `name`, nil when absent.
    func get(_ name: String) -> String? { values[name] }
}
