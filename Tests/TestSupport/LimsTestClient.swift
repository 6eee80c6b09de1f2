import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import QueueCore

/// An answer of the LIMS JSON API: status, parsed JSON body, headers.
struct LimsAnswer: Sendable {
    let status: Int
    let json: [String: JSONValue]
    let headers: HTTPFields
    var message: String { json["message"]?.stringValue ?? "" }
    var items: [[String: JSONValue]] { json["items"]?.arrayValue?.compactMap(\.objectValue) ?? [] }
}

/// A test client of the LIMS JSON API speaking JSON, with optional Basic credentials or cookie. The users are the
/// test labs' own: `labman`/`labpass` (LabManager), `analyst1`/`anpass`, `rita`/`ritapass` (a client user).
protocol LimsTestClient: Sendable {
    var client: any TestClientProtocol { get }
}

extension LimsTestClient {
    func call(_ path: String, method: HTTPRequest.Method = .post, body: JSONValue? = nil, raw: String? = nil,
              basic: (String, String)? = nil, cookie: String? = nil) async throws -> LimsAnswer {
        var headers: HTTPFields = [.contentType: "application/json"]
        if let basic {
            headers[.authorization] = "Basic " + Data("\(basic.0):\(basic.1)".utf8).base64EncodedString()
        }
        if let cookie { headers[.cookie] = "__ac=\(cookie)" }
        let uri = path.hasPrefix("/") ? path : "/@@API/senaite/v1/" + path
        let bytes = raw.map { Array($0.utf8) } ?? body?.jsonBytes
        let response = try await client.executeRequest(uri: uri, method: method, headers: headers,
                                                       body: bytes.map { ByteBuffer(bytes: $0) })
        let json = (try? JSONValue.parse(response.body.readableBytesView))?.objectValue ?? [:]
        return LimsAnswer(status: Int(response.status.code), json: json, headers: response.headers)
    }

    /// As the lab manager (Basic).
    func manager(_ path: String, method: HTTPRequest.Method = .post, body: JSONValue? = nil) async throws -> LimsAnswer {
        try await call(path, method: method, body: body, basic: ("labman", "labpass"))
    }

    /// As the analyst (Basic).
    func analyst(_ path: String, method: HTTPRequest.Method = .post, body: JSONValue? = nil) async throws -> LimsAnswer {
        try await call(path, method: method, body: body, basic: ("analyst1", "anpass"))
    }

    /// As Rita, a client user of Happy Hills (Basic).
    func rita(_ path: String, method: HTTPRequest.Method = .post, body: JSONValue? = nil) async throws -> LimsAnswer {
        try await call(path, method: method, body: body, basic: ("rita", "ritapass"))
    }
}

/// A plain LIMS test client.
struct PlainLimsClient: LimsTestClient {
    let client: any TestClientProtocol
}
