import LIMSCore
@testable import Storage
import Testing

@Suite("Decoded-object cache: used only for the exact stored document")
struct LabObjectCacheTests {
    func client(_ index: Int, name: String = "Happy Hills") -> Client {
        Client(uid: String(format: "%032x", index), id: "client-\(index)", path: "/senaite/clients/client-\(index)",
               created: 1_700_000_000, name: name, clientID: "HH\(index)")
    }

    @Test("a hit hands out the stored value with the row's version; a changed document (a later or rolled-back write) is decoded anew")
    func exactDocument() throws {
        let cache = LabObjectCache(capacity: 10)
        let original = client(1)
        let body = try LabObjectCoding.encode(original)
        let first = try #require(try cache.object(uid: original.uid, body: body, portalType: "Client", version: 3) as? Client)
        #expect(first.name == "Happy Hills" && first.version == 3)
        let again = try #require(try cache.object(uid: original.uid, body: body, portalType: "Client", version: 4) as? Client)
        #expect(again.version == 4, "the row's version, not the cached one")
        #expect(cache.count == 1)
        // Same uid and version, another document: never the cached value.
        let renamed = try LabObjectCoding.encode(client(1, name: "Happy Hills Ltd"))
        let changed = try #require(try cache.object(uid: original.uid, body: renamed, portalType: "Client", version: 4) as? Client)
        #expect(changed.name == "Happy Hills Ltd")
        // And back: the first document again decodes to its own value.
        let back = try #require(try cache.object(uid: original.uid, body: body, portalType: "Client", version: 4) as? Client)
        #expect(back.name == "Happy Hills")
        // A corrupt document is refused, not served from the cache.
        #expect(throws: (any Error).self) { try cache.object(uid: original.uid, body: "{", portalType: "Client", version: 5) }
        // The same document under another portal type is not a hit either.
        #expect(throws: (any Error).self) { try cache.object(uid: original.uid, body: body, portalType: "Worksheet", version: 5) }
    }

    @Test("a written object is a hit for its document: the value written, with the row's version; another document is decoded")
    func writtenObjects() throws {
        let cache = LabObjectCache(capacity: 10)
        var written = client(2, name: "Written")
        written.version = 7
        let body = try LabObjectCoding.encode(written)
        cache.remember(written: written, body: body)
        let read = try #require(try cache.object(uid: written.uid, body: body, portalType: "Client", version: 7) as? Client)
        #expect(read == written && cache.count == 1)
        // The row holds another document (the write rolled back, or another process wrote after it): decoded.
        let other = try LabObjectCoding.encode(client(2, name: "Stored"))
        #expect((try cache.object(uid: written.uid, body: other, portalType: "Client", version: 8) as? Client)?.name == "Stored")
    }

    @Test("the cache never holds more than its capacity; the oldest entry makes room")
    func bounded() throws {
        let cache = LabObjectCache(capacity: 3)
        for index in 0..<10 {
            let object = client(index)
            _ = try cache.object(uid: object.uid, body: try LabObjectCoding.encode(object), portalType: "Client", version: 1)
            #expect(cache.count <= 3)
        }
        #expect(cache.count == 3)
    }

    @Test("byte equality, not Unicode equivalence: a precomposed and a decomposed name are different documents")
    func bytes() {
        #expect(LabObjectCache.sameBytes("{\"name\":\"Müller\"}", "{\"name\":\"Müller\"}"))
        #expect(!LabObjectCache.sameBytes("{\"name\":\"M\u{00FC}ller\"}", "{\"name\":\"Mu\u{0308}ller\"}"))
        #expect(!LabObjectCache.sameBytes("ab", "abc"))
        #expect(LabObjectCache.sameBytes("", ""))
    }
}
