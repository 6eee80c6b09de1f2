import QueueCore
import QueueServer
import Testing

/// ``FormBody``: form bodies read as senaite.jsonapi reads Zope's `request.form`.
@Suite("Form bodies")
struct FormBodyTests {
    @Test("the form content type in any case and with parameters; others are not forms")
    func contentTypes() {
        #expect(FormBody.isFormEncoded("application/x-www-form-urlencoded"))
        #expect(FormBody.isFormEncoded("Application/X-WWW-Form-URLEncoded; charset=utf-8"))
        #expect(!FormBody.isFormEncoded("application/json"))
        #expect(!FormBody.isFormEncoded("multipart/form-data; boundary=x"))
        #expect(!FormBody.isFormEncoded(nil))
    }

    @Test("pairs: '+' and %20 are spaces, UTF-8 escapes decode, a repeated name is a list, no '=' is an empty value")
    func fields() throws {
        let fields = try FormBody.fields(Array("a=1+2&b=caf%C3%A9&uids=x&uids=y&flag&&c=%2B%26%3D".utf8))
        #expect(fields["a"] == .string("1 2"))
        #expect(fields["b"] == .string("café"))
        #expect(fields["uids"] == .array([.string("x"), .string("y")]))
        #expect(fields["flag"] == .string(""))
        #expect(fields["c"] == .string("+&="))
        #expect(fields.count == 5)
        #expect(try FormBody.fields([UInt8]()).isEmpty)
    }

    @Test("a malformed escape or non-UTF-8 text is refused naming the pair; the web form keeps it as sent")
    func malformed() throws {
        #expect(throws: QueueAPIError.self) { try FormBody.fields(Array("a=1&b=%zz".utf8)) }
        do {
            _ = try FormBody.fields(Array("a=1&b=%C3".utf8))
            Issue.record("an escape of half a UTF-8 character was accepted")
        } catch let error as QueueAPIError {
            #expect(error.message.contains("Form field 1"))
        }
        #expect(throws: QueueAPIError.self) { try FormBody.fields([0x61, 0x3D, 0xFF]) }
        // Split at the bytes: an '&' followed by a combining accent still ends its pair.
        let accented = try FormBody.fields(Array("a=1&\u{301}b=2".utf8))
        #expect(accented["a"] == .string("1") && accented["\u{301}b"] == .string("2"))
        let lenient = FormBody.pairs("a=%zz+b")
        #expect(lenient.count == 1 && lenient[0].value == "%zz b" && !lenient[0].decoded)
    }

    @Test("a name past Unicode's stream-safe limit is refused before it becomes a key")
    func streamSafeNames() throws {
        let accents = String(repeating: "%CC%81", count: String.maxNonStartersInARow + 1)
        #expect(throws: QueueAPIError.self) { try FormBody.fields(Array("e\(accents)=1".utf8)) }
        let fine = String(repeating: "%CC%81", count: String.maxNonStartersInARow)
        #expect(try FormBody.fields(Array("e\(fine)=1".utf8)).count == 1)
    }
}
