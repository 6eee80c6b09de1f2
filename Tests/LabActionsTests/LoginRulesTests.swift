import LabActions
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
        for (bad, code) in [("admin\u{202E}txt", "202E"), ("a\u{200D}b", "200D"), ("a\u{200B}b", "200B"), ("a\u{00AD}b", "AD"),
                            ("a\u{0007}b", "7"), ("a\u{0080}b", "80")] {
            let problem = LoginRules.usernameProblem(bad)
            #expect(problem?.contains("U+\(code)") == true, "\(bad.unicodeScalars.map { $0.value }): \(problem ?? "accepted")")
        }
    }

    @Test("passwords: 8 characters to 72 bytes")
    func passwords() {
        #expect(LoginRules.passwordProblem("1234567") != nil)
        #expect(LoginRules.passwordProblem("12345678") == nil)
        #expect(LoginRules.passwordProblem(String(repeating: "é", count: 36)) == nil)
        #expect(LoginRules.passwordProblem(String(repeating: "é", count: 37)) != nil)
    }
}
