@testable import LabActions
import Testing

/// ``LoginRules``: which user names and passwords a login may have.
@Suite("Login rules")
struct LoginRulesTests {
    @Test("user names: 1-64 characters, no spaces, '/', ':', control or invisible format characters")
    func usernames() {
        for good in ["labman", "analyst.2", "müller", "李雷", "o'brien", String(repeating: "a", count: 64)] {
            #expect(LoginRules.usernameProblem(good) == nil, "\(good)")
        }
        for bad in ["", "a b", "a/b", "a:b", "tab\there", String(repeating: "a", count: 65)] {
            #expect(LoginRules.usernameProblem(bad) != nil, "\(bad)")
        }
        // Right-to-left override, zero-width joiner and space, soft hyphen, a C0 and a C1 control: refused, naming it.
        // Then what shows as nothing or as blank without being either (a tryout's second round): the combining grapheme
        // joiner, a variation selector, private use, the braille blank and the Hangul fillers.
        for (bad, code) in [("admin\u{202E}txt", "202E"), ("a\u{200D}b", "200D"), ("a\u{200B}b", "200B"), ("a\u{00AD}b", "00AD"),
                            ("a\u{0007}b", "0007"), ("a\u{0080}b", "0080"), ("a\u{034F}b", "034F"), ("a\u{FE0F}b", "FE0F"),
                            ("a\u{E000}b", "E000"), ("a\u{2800}b", "2800"), ("x\u{3164}y", "3164"), ("\u{115F}", "115F"),
                            ("a\u{0085}b", "0085")] {
            let problem = LoginRules.usernameProblem(bad)
            #expect(problem?.contains("U+\(code)") == true, "\(bad.unicodeScalars.map { $0.value }): \(problem ?? "accepted")")
        }
    }

    @Test("a login attempt's user name is looked up only when at most 1,024 bytes and stream-safe (hashing a long run of accents took seconds)")
    func loginNames() {
        #expect(LoginRules.couldBeLogin("labman") && LoginRules.couldBeLogin("müller") && LoginRules.couldBeLogin("e" + String(repeating: "\u{301}", count: 30)))
        #expect(!LoginRules.couldBeLogin("e" + String(repeating: "\u{301}\u{327}", count: 16)))
        #expect(!LoginRules.couldBeLogin(String(repeating: "a", count: 1_025)))
        #expect(LoginRules.usernameProblem("e" + String(repeating: "\u{301}", count: 31)) != nil)
    }

    @Test("passwords: 8 characters to 72 bytes")
    func passwords() {
        #expect(LoginRules.passwordProblem("1234567") != nil)
        #expect(LoginRules.passwordProblem("12345678") == nil)
        #expect(LoginRules.passwordProblem(String(repeating: "é", count: 36)) == nil)
        #expect(LoginRules.passwordProblem(String(repeating: "é", count: 37)) != nil)
        // bcrypt reads up to a NUL: such a password is never set, and never checked at login.
        #expect(LoginRules.passwordProblem("secret12\u{0}more") != nil)
        #expect(!LoginRules.couldBePassword("secret12\u{0}more") && LoginRules.couldBePassword("secret12"))
    }

    @Test("results: surrounding white space, newlines too, is not part of a number (a tryout's \"12.5\\n\" was refused)")
    func resultsTrimmed() throws {
        for text in ["12.5\n", "12.5\r\n", "  \t 12.5 \n", "\t12.5", " 12.5 "] {
            #expect(throws: Never.self, "\(text.debugDescription)") { try LabActions.validateResult(text, service: nil) }
        }
        #expect(throws: (any Error).self) { try LabActions.validateResult("12.5\nx", service: nil) }
    }
}
