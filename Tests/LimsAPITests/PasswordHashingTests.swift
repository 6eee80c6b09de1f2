import LimsAPI
import Testing

@Suite("Password hashing off the caller's executor")
struct PasswordHashingTests {
    @Test("a hash verifies its password and no other; a malformed hash verifies nothing; hashes are salted")
    func roundTrip() async {
        let hash = await PasswordHashing.hash("correct horse", cost: 4)
        #expect(hash.hasPrefix("$2"))
        #expect(hash.count == 60)
        #expect(await PasswordHashing.verify("correct horse", hash: hash))
        #expect(await !PasswordHashing.verify("correct horsE", hash: hash))
        #expect(await !PasswordHashing.verify("correct horse", hash: "not a bcrypt hash"))
        #expect(await PasswordHashing.hash("correct horse", cost: 4) != hash)
    }

    @Test("many at once all answer (the shared pool, not the cooperative threads, does the work)")
    func concurrent() async {
        let hashes = await withTaskGroup(of: (Int, String).self) { group in
            for index in 0..<16 { group.addTask { (index, await PasswordHashing.hash("password-\(index)", cost: 4)) } }
            var all: [Int: String] = [:]
            for await (index, hash) in group { all[index] = hash }
            return all
        }
        #expect(hashes.count == 16)
        for (index, hash) in hashes { #expect(await PasswordHashing.verify("password-\(index)", hash: hash)) }
    }
}
