import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import QueueCore

/// An answer of the LIMS JSON API: status, parsed JSON body, headers.
package struct LimsAnswer: Sendable {
    package let status: Int
    package let json: [String: JSONValue]
    package let headers: HTTPFields

    package init(status: Int, json: [String: JSONValue], headers: HTTPFields) {
        self.status = status
        self.json = json
        self.headers = headers
    }

    /// The `message` field, or "".
    package var message: String { json["message"]?.stringValue ?? "" }
    /// The `items` field's objects.
    package var items: [[String: JSONValue]] { json["items"]?.arrayValue?.compactMap(\.objectValue) ?? [] }
}

/// A test client of the LIMS JSON API speaking JSON, with optional Basic credentials or cookie. The users are the
/// test labs' own: `labman`/`labpass` (LabManager), `analyst1`/`anpass`, `rita`/`ritapass` (a client user).
package protocol LimsTestClient: Sendable {
    /// The Hummingbird test client requests go through.
    var client: any TestClientProtocol { get }
}

extension LimsTestClient {
    /// Calls `path` under the API prefix (or any path starting with "/") with optional Basic credentials or cookie;
    /// `raw` is sent as the body instead of `body`, with `contentType` (default JSON), and `extra` headers.
    package func call(_ path: String, method: HTTPRequest.Method = .post, body: JSONValue? = nil, raw: String? = nil,
              contentType: String = "application/json", basic: (String, String)? = nil, cookie: String? = nil,
              headers extra: [String: String] = [:]) async throws -> LimsAnswer {
        var headers: HTTPFields = [.contentType: contentType]
        for (name, value) in extra { headers[HTTPField.Name(name)!] = value }
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
    package func manager(_ path: String, method: HTTPRequest.Method = .post, body: JSONValue? = nil) async throws -> LimsAnswer {
        try await call(path, method: method, body: body, basic: ("labman", "labpass"))
    }

    /// As the analyst (Basic).
    package func analyst(_ path: String, method: HTTPRequest.Method = .post, body: JSONValue? = nil) async throws -> LimsAnswer {
        try await call(path, method: method, body: body, basic: ("analyst1", "anpass"))
    }

    /// As Rita, a client user of Happy Hills (Basic).
    package func rita(_ path: String, method: HTTPRequest.Method = .post, body: JSONValue? = nil) async throws -> LimsAnswer {
        try await call(path, method: method, body: body, basic: ("rita", "ritapass"))
    }
}

/// A plain LIMS test client.
package struct PlainLimsClient: LimsTestClient {
    package let client: any TestClientProtocol

    package init(client: any TestClientProtocol) {
        self.client = client
    }
}
