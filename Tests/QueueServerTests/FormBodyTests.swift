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
        do {
            _ = try FormBody.fields([0x62, 0x3D, 0x31, 0x26, 0x61, 0x3D, 0xFF])
            Issue.record("a pair that is not UTF-8 was accepted")
        } catch let error as QueueAPIError {
            #expect(error.message.contains("Form field 1") && error.message.contains("UTF-8"))
        }
        // Names that differ only in Unicode normalization would become one field: refused, as JSON keys are.
        do {
            _ = try FormBody.fields(Array("caf%C3%A9=1&cafe%CC%81=2".utf8), what: "Query parameter")
            Issue.record("two spellings of one name were merged")
        } catch let error as QueueAPIError {
            #expect(error.message.contains("Query parameter 1") && error.message.contains("normalization"))
        }
        #expect(try FormBody.fields(Array("caf%C3%A9=1&caf%C3%A9=2".utf8))["café"] == .array([.string("1"), .string("2")]))
        #expect(FormBody.isMultipart("multipart/form-data; boundary=x") && !FormBody.isMultipart("application/json"))
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
