import AsyncHTTPClient
import Foundation
import NIOCore
import QueueCore

/// What the server status banner says (senaite.queue's server status viewlet, reference 1.9).
enum ServerStatus: String, Sendable, Equatable {
    /// The queue store answers and the configured server (if any) answers its version route.
    case ok
    /// The `server` setting is not a URL with scheme, host and path.
    case notConfigured = "not_configured"
    /// `GET {server}/@@API/senaite/v1/version` failed or took longer than 1 s, or the store did not answer.
    case notResponding = "not_responding"

    /// The banner text.
    var message: String {
        switch self {
        case .ok: "Queue server: ok."
        case .notConfigured: "Queue Server is not configured properly: the server setting needs a URL with scheme, host and path."
        case .notResponding: "Queue Server is not responding, please verify it is up and running."
        }
    }

    /// CSS level of the banner.
    var level: String {
        switch self {
        case .ok: "ok"
        case .notConfigured: "warning"
        case .notResponding: "error"
        }
    }
}

/// Checks the queue server the settings name, at most once per (server URL, minute).
///
/// Our queue lives in the same database as the pages, so the store answering is the first check; an empty
/// `server` setting means this process is the server (ok); an invalid URL is `not_configured`; otherwise the
/// server's `{server}/@@API/senaite/v1/version` must answer within 1 s. Source: reference 1.9 (the original caches
/// per server URL and minute, with a 1 s timeout).
public actor ServerStatusProbe {
    /// Answers true when `url` answers 2xx within the timeout (seconds).
    public typealias Probe = @Sendable (_ url: String, _ timeoutSeconds: Double) async -> Bool

    /// Timeout of the version request: 1 second.
    static let timeoutSeconds = 1.0

    let probe: Probe
    private var cache: [String: (minute: Int, status: ServerStatus)] = [:]

    init(probe: @escaping Probe) { self.probe = probe }

    /// The status for `settings` (nil when the store did not answer) at `now` (epoch seconds).
    func status(settings: QueueSettings?, now: Double) async -> ServerStatus {
        guard let settings else { return .notResponding }
        let server = settings.server.trimmingCharacters(in: .whitespaces)
        if server.isEmpty { return .ok }
        guard QueueSettings.isValidServerURL(server) else { return .notConfigured }
        let minute = Int(now / 60)
        if let cached = cache[server], cached.minute == minute { return cached.status }
        let base = server.hasSuffix("/") ? String(server.dropLast()) : server
        let status: ServerStatus = await probe(base + "/@@API/senaite/v1/version", Self.timeoutSeconds) ? .ok : .notResponding
        cache[server] = (minute, status)
        return status
    }

    /// GET with AsyncHTTPClient's shared client; true on a 2xx answer within `timeoutSeconds`.
    public static let httpProbe: Probe = { url, timeoutSeconds in
        do {
            var request = HTTPClientRequest(url: url)
            request.method = .GET
            let response = try await HTTPClient.shared.execute(request, timeout: .milliseconds(Int64(timeoutSeconds * 1000)))
            _ = try? await response.body.collect(upTo: 64 * 1024)
            return (200..<300).contains(response.status.code)
        } catch {
            return false
        }
    }
}
