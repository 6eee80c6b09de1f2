import AsyncHTTPClient
import Foundation
import NIOCore
import NIOFoundationCompat
import QueueAuth
import QueueCore
import Testing

/// The main job end to end: the demo lab imported from SENAITE's workbook, `limsqueue serve` as a separate
/// process, a worksheet built through the LIMS API, and a submit that goes through the queue and is processed
/// by serve's consumers acting as the user.
@Suite("End to end", .serialized)
struct EndToEndTests {
    let key = Fernet.generateKey()

    struct Client: Sendable {
        let base: String
        let http: HTTPClient
        let basic: String

        /// Calls `/@@API/senaite/v1/<path>` as the user; returns status and JSON object.
        func call(_ path: String, body: JSONValue? = nil) async throws -> (status: Int, json: [String: JSONValue]) {
            var request = HTTPClientRequest(url: "\(base)/@@API/senaite/v1/\(path)")
            request.method = body == nil ? .GET : .POST
            request.headers.add(name: "Authorization", value: "Basic \(basic)")
            if let body {
                request.headers.add(name: "Content-Type", value: "application/json")
                request.body = .bytes(ByteBuffer(bytes: body.jsonBytes))
            }
            let response = try await http.execute(request, timeout: .seconds(30))
            let buffer = try await response.body.collect(upTo: 16 << 20)
            return (Int(response.status.code), (try? JSONValue.parse(buffer.readableBytesView))?.objectValue ?? [:])
        }

        func items(_ answer: (status: Int, json: [String: JSONValue])) -> [[String: JSONValue]] {
            answer.json["items"]?.arrayValue?.compactMap(\.objectValue) ?? []
        }
    }

    @Test("demo lab: a queued worksheet submit is processed by serve's consumers as the user who asked")
    func queuedSubmit() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let workbook = SetupCLITests.workbook
        #expect(try runLimsQueue(["setup", "import", workbook, "--bcrypt-cost", "4"], dataDir: directory.path).status == 0)
        #expect(try runLimsQueue(["demo", "samples", "--count", "4"], dataDir: directory.path).status == 0)
        let serve = try LimsProcess(["serve", "--port", "0", "--consumers", "2"] + (try TestDatabase.arguments(dataDir: directory.path)),
                                    logDirectory: directory.path, name: "serve", environment: ["LIMSQUEUE_AUTH_KEY": key, "LOG_LEVEL": "info"])
        let port = try await serve.listeningPort()
        let http = HTTPClient(eventLoopGroupProvider: .singleton)
        let api = Client(base: "http://127.0.0.1:\(port)", http: http, basic: Data("labman1:labman1".utf8).base64EncodedString())
        do {
            let worksheet = try await api.call("worksheet/create", body: .object(["analyst": .string("analyst1")]))
            #expect(worksheet.status == 200, "\(worksheet.json)")
            let worksheetUID = try #require(api.items(worksheet).first?["uid"]?.stringValue)
            let unassigned = api.items(try await api.call("Analysis?review_state=unassigned&limit=4"))
            let uids = unassigned.compactMap { $0["uid"]?.stringValue }
            #expect(uids.count == 4)
            let assign = try await api.call("workflow_action", body: .object([
                "action": .string("assign"), "uids": .array(uids.map(JSONValue.string)), "context_uid": .string(worksheetUID),
            ]))
            #expect(assign.json["success"] == .bool(true), "\(assign.json)")
            for uid in uids {
                #expect(try await api.call("update", body: .object(["uid": .string(uid), "Result": .string("7.5")])).status == 200)
            }
            let submit = try await api.call("workflow_action", body: .object([
                "action": .string("submit"), "uids": .array(uids.map(JSONValue.string)), "context_uid": .string(worksheetUID),
            ]))
            #expect(submit.json["queued"] == .bool(true), "\(submit.json)")
            try await eventually(60, "the queued submit is processed") {
                var submitted = 0
                for uid in uids {
                    let state = api.items(try await api.call(uid)).first?["review_state"]?.stringValue
                    if state == "to_be_verified" { submitted += 1 }
                }
                return submitted == uids.count
            }
            let after = api.items(try await api.call(worksheetUID)).first
            #expect(after?["review_state"] == .string("to_be_verified"))
        } catch {
            try? await http.shutdown()
            serve.kill(SIGTERM)
            _ = await serve.waitForExit()
            throw error
        }
        try await http.shutdown()
        serve.kill(SIGTERM)
        #expect(await serve.waitForExit() == 0)
    }
}
