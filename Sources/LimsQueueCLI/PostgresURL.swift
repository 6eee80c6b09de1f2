import Foundation
import PostgresKit

/// Reads a PostgreSQL connection URL as libpq does, including a server on this machine reached through its
/// Unix-domain socket rather than TCP.
///
/// Forms (libpq's, "Connection URIs" in the PostgreSQL manual, section 34.1.1):
/// - TCP: `postgres://user:password@host:port/database?sslmode=...` (`postgresql://` too); read by PostgresKit.
/// - socket: `postgres://user@/database?host=/var/run/postgresql` (the `host` parameter, or the host part
///   percent-encoded, `postgres://user@%2Fvar%2Frun%2Fpostgresql/database`, names the socket's directory when it
///   starts with `/`). The socket is `<directory>/.s.PGSQL.<port>`, the port from the URL or a `port` parameter,
///   default 5432. No TLS over a socket. A `host` parameter that is a name is a TCP host, as in libpq; no database
///   name means the user's.
/// - PostgresKit's own `postgres+uds://user@localhost/path/to/.s.PGSQL.5432#database` is taken too.
/// - libpq's `user`, `password` and `dbname` parameters stand for the URL's parts (``normalized(_:)``); an IPv6
///   host is written `[::1]`, or bare as the `host` parameter.
///
/// A socket needs no TCP listener and allows PostgreSQL's peer authentication. It was measured no faster than loopback
/// TCP on the 2-core machine (`bench lims` and `bench queue`, issue 12's closing note of stop 31).
enum PostgresURL {
    /// The URL schemes `--database` takes.
    static let schemes = ["postgres", "postgresql", "postgres+uds", "postgresql+uds"]

    /// Whether `url` names a PostgreSQL database (its scheme is one of ``schemes``); says nothing of the rest.
    static func isPostgres(_ url: String) -> Bool {
        guard let colon = url.range(of: "://") else { return false }
        return schemes.contains(url[..<colon.lowerBound].lowercased())
    }

    /// `url` with libpq's `user`, `password` and `dbname` parameters moved into the URL's user, password and path,
    /// where the rest of this type and PostgresKit read them (`postgres:///?dbname=limsqueue&user=lims&host=/tmp`);
    /// a parameter wins over the URL's own part, as libpq reads the parameters after it. Other URLs are returned as
    /// given.
    static func normalized(_ url: String) -> String {
        (try? checkedNormalized(url)) ?? url
    }

    /// ``normalized(_:)``, refusing a `dbname=` with a `/` (the path would split it: over TCP the part after the
    /// `/` was the database used, over a socket the part before it; a tryout's `dbname=fresh2_a%2Fjunk`).
    /// - Throws: ``CLIError`` naming `dbname`.
    static func checkedNormalized(_ url: String) throws -> String {
        let url = tidied(url)
        guard var components = URLComponents(string: url), let items = components.queryItems else { return url }
        let moved: Set<String> = ["user", "password", "dbname"]
        guard items.contains(where: { moved.contains($0.name) }) else { return url }
        // An empty value is unset, as in libpq: the URL's own part (or the default) stays.
        func value(_ name: String) -> String? { items.last(where: { $0.name == name })?.value.flatMap { $0.isEmpty ? nil : $0 } }
        if let user = value("user") { components.user = user }
        if let password = value("password") { components.password = password }
        if let database = value("dbname") {
            guard !database.contains("/") else {
                throw CLIError("the database URL's dbname=\(database) holds a /, which LimsQueue cannot pass on; name a database without one")
            }
            components.path = "/" + database
        }
        // URLComponents drops an empty host, which `postgres://user@/db?host=...` needs kept.
        if components.host == nil { components.host = "" }
        let rest = items.filter { !moved.contains($0.name) }
        components.queryItems = rest.isEmpty ? nil : rest
        return components.string ?? url
    }

    /// `url` as libpq reads it: the scheme in lower case (`POSTGRES://` got PostgresKit's generic refusal), stray
    /// `&` and `=` without a name dropped (`?&&=&`), and a path of only `/` read as no database (PostgresKit asked
    /// the server for a database named "/"; libpq then takes the user's name, as PostgreSQL does).
    static func tidied(_ url: String) -> String {
        guard let colon = url.range(of: "://"), var components = URLComponents(string: url) else { return url }
        let scheme = url[..<colon.lowerBound]
        if scheme != scheme.lowercased() { components.scheme = scheme.lowercased() }
        if let items = components.queryItems {
            let kept = items.filter { !$0.name.isEmpty || !($0.value ?? "").isEmpty }
            if kept.count != items.count { components.queryItems = kept.isEmpty ? nil : kept }
        }
        if !components.path.isEmpty, components.path.allSatisfy({ $0 == "/" }) { components.path = "" }
        // URLComponents drops an empty host, which `postgres://user@/db?host=...` needs kept.
        if components.host == nil, url[colon.upperBound...].contains("@/") { components.host = "" }
        return components.string ?? url
    }

    /// `url` with the password hidden, for logs: the URL's own (`user:***@`) and a `password` parameter's.
    static func redacted(_ url: String) -> String {
        url.replacingOccurrences(of: #"//([^:@/]+):[^@/]*@"#, with: "//$1:***@", options: .regularExpression)
            .replacingOccurrences(of: #"([?&]password=)[^&#]*"#, with: "$1***", options: .regularExpression)
    }

    /// The socket file a URL names, or nil when it names a TCP host.
    /// - Returns: `<directory>/.s.PGSQL.<port>` for a socket directory given as the `host` parameter or as the
    ///   (percent-encoded) host part.
    /// - Throws: ``CLIError`` naming the field for a port that is not a number from 1 to 65535.
    static func socketPath(_ url: String) throws -> String? {
        try socket(normalized(url)).map { $0.directory + "/.s.PGSQL.\($0.port)" }
    }

    /// `url` for PostgresKit: a `host` parameter that names a TCP host (libpq takes a host name there as well as a
    /// socket directory) becomes the URL's host, and a `port` parameter its port.
    /// - Throws: ``CLIError`` for a port that is not a number from 1 to 65535.
    static func tcpURL(_ url: String) throws -> String {
        guard var components = URLComponents(string: url), let items = components.queryItems else { return url }
        guard let host = items.last(where: { $0.name == "host" })?.value, !host.isEmpty else {
            // A `port` parameter applies to the URL's own host too (libpq; a tryout's ?port=55499 went to 5432).
            guard let portText = items.last(where: { $0.name == "port" })?.value, !portText.isEmpty else { return url }
            guard let port = Int(portText), (1...65_535).contains(port) else {
                throw CLIError("the database URL's port must be a number from 1 to 65535, not \(portText)")
            }
            components.port = port
            let rest = items.filter { $0.name != "port" }
            components.queryItems = rest.isEmpty ? nil : rest
            return components.string ?? url
        }
        // A path that is not absolute is neither a socket directory nor a host name (a tryout's `host=tmp/pgmain`).
        guard !host.contains("/") else {
            throw CLIError("the database URL's host=\(host) is not an absolute directory: a socket directory starts with /, "
                           + "e.g. host=/var/run/postgresql")
        }
        if let portText = items.last(where: { $0.name == "port" })?.value {
            guard let port = Int(portText), (1...65_535).contains(port) else {
                throw CLIError("the database URL's port must be a number from 1 to 65535, not \(portText)")
            }
            components.port = port
        }
        // An IPv6 address is written in brackets in a URL's host (libpq takes `host=::1` bare).
        components.percentEncodedHost = host.contains(":") && !host.hasPrefix("[") ? "[\(host)]" : host
        let rest = items.filter { $0.name != "host" && $0.name != "port" }
        components.queryItems = rest.isEmpty ? nil : rest
        return components.string ?? url
    }

    /// Where `url` connects, in an operator's words: "the socket <path>" or "<host>:<port>".
    static func target(_ url: String) -> String {
        let url = normalized(url)
        if let socket = try? socketPath(url) { return "the socket \(socket)" }
        guard let configuration = try? configuration(url) else { return "the URL's server" }
        let host = configuration.coreConfiguration.host ?? "?"
        // An IPv6 address in brackets, so that its port reads apart from it: [::1]:5432.
        return "\(host.contains(":") ? "[\(host)]" : host):\(configuration.coreConfiguration.port ?? 5432)"
    }

    /// The socket's directory (no trailing `/`) and port, or nil for a TCP host.
    private static func socket(_ url: String) throws -> (directory: String, port: Int)? {
        guard let components = URLComponents(string: url), ["postgres", "postgresql"].contains(components.scheme?.lowercased() ?? "") else {
            return nil
        }
        let items = components.queryItems ?? []
        let hostParameter = items.last(where: { $0.name == "host" })?.value
        let directory = hostParameter ?? components.percentEncodedHost?.removingPercentEncoding
        guard let directory, directory.hasPrefix("/") else { return nil }
        // The socket file itself given (a tryout's host=/tmp/pgmain/.s.PGSQL.55499 looked for a file inside it).
        let name = (directory as NSString).lastPathComponent
        if name.hasPrefix(".s.PGSQL.") {
            throw CLIError("the database URL's host= names the socket file \(directory); give its directory and port instead: "
                           + "host=\((directory as NSString).deletingLastPathComponent)&port=\(name.dropFirst(9))")
        }
        let portText = items.last(where: { $0.name == "port" })?.value ?? components.port.map(String.init) ?? "5432"
        guard let port = Int(portText), (1...65_535).contains(port) else {
            throw CLIError("the database URL's port must be a number from 1 to 65535, not \(portText)")
        }
        return (directory.count > 1 && directory.hasSuffix("/") ? String(directory.dropLast()) : directory, port)
    }

    /// URL parameters LimsQueue applies: libpq's names, and PostgresKit's `tlsmode`/`ssl`/`tls` for `sslmode`.
    static let appliedParameters: Set<String> = Set(["host", "port", "user", "password", "dbname"]).union(sslParameters)

    /// The names PostgresKit reads the TLS mode from (libpq's `sslmode`, and `tlsmode`, `ssl`, `tls`).
    static let sslParameters: Set<String> = ["sslmode", "tlsmode", "ssl", "tls"]

    /// libpq parameters taken and not applied, as nothing a connection does depends on them here.
    static let ignoredParameters: Set<String> = ["application_name", "fallback_application_name", "connect_timeout", "keepalives",
                                                 "keepalives_idle", "keepalives_interval", "keepalives_count"]

    /// Refuses URL parameters LimsQueue would not apply, instead of connecting without them: a tryout's
    /// `options=-c search_path=lab` was silently ignored (the tables went to `public`), and `host=a,b` (libpq's
    /// several hosts) was read as one host name.
    /// - Throws: ``CLIError`` naming the parameter and listing those taken.
    static func checkParameters(_ url: String) throws {
        guard let items = URLComponents(string: tidied(url))?.queryItems else { return }
        for item in items {
            guard !item.name.isEmpty else {
                throw CLIError("the database URL has a parameter without a name (=\((item.value ?? "").prefix(40))); write NAME=VALUE")
            }
            // As libpq: names are case-sensitive (`DBNAME=` is not `dbname=`; it was checked in lower case and then
            // ignored, a tryout's node connecting to the URL's own database).
            let name = item.name
            if name == "host", let value = item.value, value.contains(",") {
                throw CLIError("the database URL's host=\(value.prefix(80)) names several hosts, which LimsQueue does not support; name one")
            }
            guard appliedParameters.contains(name) || ignoredParameters.contains(name) else {
                throw CLIError("the database URL's parameter \(item.name.prefix(40)) is not supported (LimsQueue takes "
                               + appliedParameters.sorted().joined(separator: ", ") + "; it ignores "
                               + ignoredParameters.sorted().joined(separator: ", ") + ")")
            }
        }
    }

    /// The values of `sslmode` (libpq's names) PostgresKit takes, in libpq's order.
    static let sslModes = ["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]

    /// Checks the parts of a TCP URL PostgresKit would refuse with Foundation's bare "NSURLErrorDomain Code=-1000"
    /// (a tryout's `sslmode=bogus` and a URL without a user got the generic message).
    /// - Throws: ``CLIError`` naming the part: no user, no host, an `sslmode` (or `tlsmode`, `ssl`, `tls`) value
    ///   PostgresKit does not know.
    static func checkTCPParts(_ url: String) throws {
        guard let components = URLComponents(string: url), ["postgres", "postgresql", "postgres+tcp", "postgresql+tcp"].contains(components.scheme ?? "") else { return }
        guard let user = components.user, !user.isEmpty else {
            throw CLIError("the database URL names no user: postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE (or user=USER)")
        }
        guard let host = components.host, !host.isEmpty else {
            throw CLIError("the database URL names no host: postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE, "
                           + "or postgres://USER@/DATABASE?host=/SOCKET/DIRECTORY for a local socket")
        }
        if let mode = (components.queryItems ?? []).last(where: { sslParameters.contains($0.name.lowercased()) }),
           let value = mode.value, !(sslModes + ["true", "false"]).contains(value) {
            throw CLIError("the database URL's \(mode.name)=\(value.prefix(40)) is not one of \(sslModes.joined(separator: ", "))")
        }
    }

    /// The connection settings of `url`.
    /// - Throws: ``CLIError`` naming what is wrong: no user, a bad port, a URL that is not one of the forms above.
    static func configuration(_ url: String) throws -> SQLPostgresConfiguration {
        try checkParameters(url)
        let url = try checkedNormalized(url)
        // The URL's own port, as the `port` parameter: 1 to 65535 (70000 was taken modulo 65536 and dialled 4464).
        if let port = URLComponents(string: url)?.port, !(1...65_535).contains(port) {
            throw CLIError("the database URL's port must be a number from 1 to 65535, not \(port)")
        }
        guard let socket = try socket(url) else {
            let tcp = try tcpURL(url)
            try checkTCPParts(tcp)
            do {
                var configuration = try SQLPostgresConfiguration(url: tcp)
                // PostgresKit keeps an IPv6 address's brackets (`[::1]`), which no resolver takes.
                let core = configuration.coreConfiguration
                if let host = core.host, host.hasPrefix("["), host.hasSuffix("]") {
                    var bare = PostgresConnection.Configuration(host: String(host.dropFirst().dropLast()), port: core.port ?? 5432,
                                                                username: core.username, password: core.password,
                                                                database: core.database, tls: core.tls)
                    bare.options = core.options
                    configuration.coreConfiguration = bare
                }
                return configuration
            } catch let error as CLIError {
                throw error
            } catch {
                // PostgresKit's own error is Foundation's bare "NSURLErrorDomain Code=-1000".
                throw CLIError("not a PostgreSQL URL PostgresKit can read; use postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE, "
                               + "or postgres://USER@/DATABASE?host=/SOCKET/DIRECTORY for a local socket")
            }
        }
        guard let components = URLComponents(string: url), let user = components.user, !user.isEmpty else {
            throw CLIError("the database URL names no user: postgres://USER@/DATABASE?host=\(socket.directory)&port=\(socket.port)")
        }
        let database = components.path.split(separator: "/").first.map(String.init)
        return SQLPostgresConfiguration(unixDomainSocketPath: socket.directory + "/.s.PGSQL.\(socket.port)", username: user, password: components.password,
                                        database: database)
    }
}
