/// Reading and writing JSON text as ``JSONValue`` (RFC 8259), without `Codable`.
///
/// The queue's wire and storage paths move task dicts of unknown shape; decoding them through `Codable`
/// means trying each type in turn and throwing on every miss, which dominated the server's CPU profile.
/// This parser reads UTF-8 bytes once. Numbers without fraction or exponent that fit in `Int` become
/// ``JSONValue/int(_:)``, others ``JSONValue/double(_:)``, and those neither holds exactly (an integer beyond
/// `Int`, a magnitude beyond `Double`'s range or below its smallest) ``JSONValue/verbatimNumber(_:)``.
extension JSONValue {
    /// Why a text is not JSON.
    public struct ParseError: Error, Equatable, CustomStringConvertible {
        /// Byte offset where parsing stopped.
        public let offset: Int
        public let reason: String
        public var description: String { "invalid JSON at byte \(offset): \(reason)" }
    }

    /// Parses one JSON value (surrounding whitespace allowed; nesting limited to 256 levels).
    /// - Throws: ``ParseError``.
    public static func parse<Bytes: Collection>(_ bytes: Bytes) throws -> JSONValue where Bytes.Element == UInt8 {
        var parser = Parser(bytes: Array(bytes))
        parser.skipWhitespace()
        let value = try parser.value(depth: 0)
        parser.skipWhitespace()
        guard parser.index == parser.bytes.count else { throw parser.error("unexpected trailing characters") }
        return value
    }

    /// Parses JSON text.
    public static func parse(_ text: String) throws -> JSONValue {
        try parse(Array(text.utf8))
    }

    /// Compact JSON text (object keys sorted, so equal values give equal text).
    public var jsonBytes: [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(256)
        write(into: &output)
        return output
    }

    /// Compact JSON text as a `String`.
    public var jsonString: String { String(decoding: jsonBytes, as: UTF8.self) }

    /// JSON text for people: each array item and object member on a line of its own, indented by two spaces a
    /// level, object keys sorted, numbers written as ``jsonString`` writes them (a ``verbatimNumber(_:)`` as sent).
    /// For a task's web page and `limsqueue tasks --json`, which Foundation's encoder wrote with numbers rounded
    /// through a double (a tryout).
    public var prettyJSONString: String {
        var output: [UInt8] = []
        output.reserveCapacity(512)
        write(into: &output, indent: 0)
        return String(decoding: output, as: UTF8.self)
    }

    /// Writes the value's JSON text: compact when `indent` is nil (``jsonBytes``), else with each array item and
    /// object member on a line of its own, `indent` + 2 spaces in (``prettyJSONString``).
    func write(into output: inout [UInt8], indent: Int? = nil) {
        let inner = indent.map { $0 + 2 }
        func breakLine(_ level: Int?) {
            guard let level else { return }
            output.append(0x0A)
            output.append(contentsOf: repeatElement(UInt8(ascii: " "), count: level))
        }
        switch self {
        case .null: output.append(contentsOf: "null".utf8)
        case .bool(let flag): output.append(contentsOf: (flag ? "true" : "false").utf8)
        case .int(let number): Self.writeInt(number, into: &output)
        case .double(let number):
            // JSON has no NaN or infinity: write them as null, as Python's json with allow_nan=False refuses them.
            output.append(contentsOf: (number.isFinite ? "\(number)" : "null").utf8)
        case .verbatimNumber(let text): output.append(contentsOf: text.utf8)
        case .string(let text): Self.writeString(text, into: &output)
        case .array(let items):
            output.append(UInt8(ascii: "["))
            for (index, item) in items.enumerated() {
                if index > 0 { output.append(UInt8(ascii: ",")) }
                breakLine(inner)
                item.write(into: &output, indent: inner)
            }
            if !items.isEmpty { breakLine(indent) }
            output.append(UInt8(ascii: "]"))
        case .object(let members):
            output.append(UInt8(ascii: "{"))
            // Members in key order: their positions are sorted, not the members (moving a member retains and
            // releases its key and value), and no key is looked up again (one hash per member less).
            let pairs = Array(members)
            let order = pairs.indices.sorted { pairs[$0].key < pairs[$1].key }
            for (index, position) in order.enumerated() {
                if index > 0 { output.append(UInt8(ascii: ",")) }
                breakLine(inner)
                Self.writeString(pairs[position].key, into: &output)
                output.append(UInt8(ascii: ":"))
                if indent != nil { output.append(UInt8(ascii: " ")) }
                pairs[position].value.write(into: &output, indent: inner)
            }
            if !members.isEmpty { breakLine(indent) }
            output.append(UInt8(ascii: "}"))
        }
    }

    /// Decimal digits of `number`, written directly (no `String` made per number).
    static func writeInt(_ number: Int, into output: inout [UInt8]) {
        if number == 0 {
            output.append(48)
            return
        }
        if number < 0 { output.append(UInt8(ascii: "-")) }
        var magnitude = number.magnitude
        var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                     UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var count = 0
        withUnsafeMutableBytes(of: &digits) { buffer in
            while magnitude > 0 {
                buffer[count] = UInt8(magnitude % 10) + 48
                magnitude /= 10
                count += 1
            }
            for position in stride(from: count - 1, through: 0, by: -1) { output.append(buffer[position]) }
        }
    }

    /// Bytes a JSON string must escape: `"`, `\` and the control characters.
    @inline(__always)
    static func needsEscape(_ byte: UInt8) -> Bool { byte < 0x20 || byte == 0x22 || byte == 0x5C }

    static func writeString(_ text: String, into output: inout [UInt8]) {
        // Read from the string's own contiguous bytes (`withUTF8`; iterating its UTF-8 view byte by byte was half of
        // the writing of a task in `perf` of `limsqueue bench queue`). Most keys and values need no escape: copied whole.
        var text = text
        text.withUTF8 { bytes in
            output.append(UInt8(ascii: "\""))
            defer { output.append(UInt8(ascii: "\"")) }
            guard bytes.contains(where: needsEscape) else {
                output.append(contentsOf: bytes)
                return
            }
            let hex: StaticString = "0123456789abcdef"
            for byte in bytes {
                switch byte {
                case UInt8(ascii: "\""): output.append(contentsOf: [92, 34])
                case UInt8(ascii: "\\"): output.append(contentsOf: [92, 92])
                case 0x0A: output.append(contentsOf: [92, UInt8(ascii: "n")])
                case 0x0D: output.append(contentsOf: [92, UInt8(ascii: "r")])
                case 0x09: output.append(contentsOf: [92, UInt8(ascii: "t")])
                case 0..<0x20:
                    output.append(contentsOf: [92, UInt8(ascii: "u"), 48, 48, hex.utf8Start[Int(byte >> 4)], hex.utf8Start[Int(byte & 0xF)]])
                default: output.append(byte)
                }
            }
        }
    }

    struct Parser {
        let bytes: [UInt8]
        var index = 0

        init(bytes: [UInt8]) {
            self.bytes = bytes
        }

        func error(_ reason: String) -> ParseError { ParseError(offset: index, reason: reason) }

        mutating func skipWhitespace() {
            while index < bytes.count, bytes[index] == 0x20 || bytes[index] == 0x0A || bytes[index] == 0x0D || bytes[index] == 0x09 {
                index += 1
            }
        }

        mutating func value(depth: Int) throws -> JSONValue {
            guard depth < 256 else { throw error("nested too deeply") }
            guard index < bytes.count else { throw error("unexpected end") }
            switch bytes[index] {
            case UInt8(ascii: "{"): return try object(depth: depth)
            case UInt8(ascii: "["): return try array(depth: depth)
            case UInt8(ascii: "\""): return .string(try string())
            case UInt8(ascii: "t"): try literal("true"); return .bool(true)
            case UInt8(ascii: "f"): try literal("false"); return .bool(false)
            case UInt8(ascii: "n"): try literal("null"); return .null
            default: return try number()
            }
        }

        mutating func literal(_ word: String) throws {
            let expected = Array(word.utf8)
            guard index + expected.count <= bytes.count, Array(bytes[index..<(index + expected.count)]) == expected else {
                throw error("unexpected character")
            }
            index += expected.count
        }

        mutating func object(depth: Int) throws -> JSONValue {
            index += 1
            skipWhitespace()
            if index < bytes.count, bytes[index] == UInt8(ascii: "}") {
                index += 1
                return .object([:])
            }
            // Members are gathered first and the dictionary made once at its size (growing it member by member
            // rehashed a task's 20 keys four times); a key given twice keeps its last value.
            var members: [(String, JSONValue)] = []
            members.reserveCapacity(8)
            // Where each key starts, to name the second of two keys that differ only in normalization.
            var keyOffsets: [Int] = []
            keyOffsets.reserveCapacity(8)
            while true {
                skipWhitespace()
                guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { throw error("expected a string key") }
                let keyStart = index
                let key = try string()
                try checkStreamSafe(key, at: keyStart)
                keyOffsets.append(keyStart)
                skipWhitespace()
                guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { throw error("expected ':'") }
                index += 1
                skipWhitespace()
                members.append((key, try value(depth: depth + 1)))
                skipWhitespace()
                guard index < bytes.count else { throw error("unexpected end in object") }
                if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
                if bytes[index] == UInt8(ascii: "}") {
                    index += 1
                    let object = Dictionary(members, uniquingKeysWith: { _, last in last })
                    if object.count < members.count { try checkKeysDistinctAsText(members, offsets: keyOffsets, object: object) }
                    return .object(object)
                }
                throw error("expected ',' or '}'")
            }
        }

        /// Refuses an object whose keys are two texts that differ only in how their characters are encoded (a
        /// composed "é" and "e" with a combining accent, "Å" as U+212B and U+00C5): Swift's `String` equality is
        /// Unicode canonical equivalence, so ``JSONValue/object(_:)`` would keep one of the two members and silently
        /// drop the other. A key given twice with the same bytes keeps its last value, as Python's `json` does.
        /// - Throws: ``ParseError`` at the start of the later key of the pair, quoting at most 40 characters of it.
        func checkKeysDistinctAsText(_ members: [(String, JSONValue)], offsets: [Int], object: [String: JSONValue]) throws {
            for ((key, _), offset) in zip(members, offsets) {
                guard let kept = object.index(forKey: key) else { continue }
                if ExactText(key) != ExactText(object.keys[kept]) {
                    // At most 40 characters of the key, escaped (a key may be megabytes long or hold control characters).
                    let shown = key.count > 40 ? String(key.prefix(40)).debugDescription + "..." : key.debugDescription
                    throw ParseError(offset: offset, reason: "this key and an earlier one of the same object differ only in "
                                     + "Unicode normalization (\(shown), written two ways); use one form for both")
                }
            }
        }

        /// Refuses an object key that is not in Unicode's stream-safe format (``Swift/String/isStreamSafe``). Keys
        /// are hashed as they are read, and hashing a `String` puts it in canonical order, whose cost grows with the
        /// square of a run of combining characters: a tryout's 100 KB key (one letter and 50,000 accents) took 11.5 s
        /// of CPU to read, on the unauthenticated `login` route too. Values are not hashed here and are not limited.
        /// - Throws: ``ParseError`` at the key's start.
        func checkStreamSafe(_ key: String, at offset: Int) throws {
            guard key.isStreamSafe else {
                throw ParseError(offset: offset, reason: "an object key has more than \(String.maxNonStartersInARow) "
                                 + "combining characters in a row (Unicode's stream-safe limit)")
            }
        }

        mutating func array(depth: Int) throws -> JSONValue {
            index += 1
            var items: [JSONValue] = []
            skipWhitespace()
            if index < bytes.count, bytes[index] == UInt8(ascii: "]") {
                index += 1
                return .array(items)
            }
            while true {
                skipWhitespace()
                items.append(try value(depth: depth + 1))
                skipWhitespace()
                guard index < bytes.count else { throw error("unexpected end in array") }
                if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
                if bytes[index] == UInt8(ascii: "]") { index += 1; return .array(items) }
                throw error("expected ',' or ']'")
            }
        }

        mutating func string() throws -> String {
            index += 1
            let start = index
            var ascii = true
            // Most strings have no escape: made from their bytes at once (ASCII needs no validation; the generic
            // validation costs a runtime metadata lookup per call).
            while index < bytes.count {
                let byte = bytes[index]
                if byte == UInt8(ascii: "\"") {
                    let end = index
                    index += 1
                    if ascii { return String(decoding: bytes[start..<end], as: UTF8.self) }
                    guard let text = String(validating: bytes[start..<end], as: UTF8.self) else { throw error("invalid UTF-8 in string") }
                    return text
                }
                if byte == UInt8(ascii: "\\") { break }
                if byte < 0x20 { throw error("control character in string") }
                if byte >= 0x80 { ascii = false }
                index += 1
            }
            // An escape: the bytes so far, then byte by byte.
            var output = Array(bytes[start..<index])
            while index < bytes.count {
                let byte = bytes[index]
                switch byte {
                case UInt8(ascii: "\""):
                    index += 1
                    guard let text = String(validating: output, as: UTF8.self) else { throw error("invalid UTF-8 in string") }
                    return text
                case UInt8(ascii: "\\"):
                    index += 1
                    guard index < bytes.count else { throw error("unexpected end in escape") }
                    let escape = bytes[index]
                    index += 1
                    switch escape {
                    case UInt8(ascii: "\""): output.append(34)
                    case UInt8(ascii: "\\"): output.append(92)
                    case UInt8(ascii: "/"): output.append(47)
                    case UInt8(ascii: "b"): output.append(8)
                    case UInt8(ascii: "f"): output.append(12)
                    case UInt8(ascii: "n"): output.append(10)
                    case UInt8(ascii: "r"): output.append(13)
                    case UInt8(ascii: "t"): output.append(9)
                    case UInt8(ascii: "u"):
                        var scalar = try hex4()
                        if (0xD800..<0xDC00).contains(scalar) {
                            guard index + 1 < bytes.count, bytes[index] == 92, bytes[index + 1] == UInt8(ascii: "u") else {
                                throw error("unpaired surrogate")
                            }
                            index += 2
                            let low = try hex4()
                            guard (0xDC00..<0xE000).contains(low) else { throw error("invalid surrogate pair") }
                            scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                        } else if (0xDC00..<0xE000).contains(scalar) {
                            throw error("unpaired surrogate")
                        }
                        guard let unicode = Unicode.Scalar(scalar) else { throw error("invalid \\u escape") }
                        output.append(contentsOf: Array(String(Character(unicode)).utf8))
                    default: throw error("invalid escape")
                    }
                case 0..<0x20:
                    throw error("control character in string")
                default:
                    output.append(byte)
                    index += 1
                }
            }
            throw error("unterminated string")
        }

        mutating func hex4() throws -> UInt32 {
            guard index + 4 <= bytes.count else { throw error("short \\u escape") }
            var value: UInt32 = 0
            for _ in 0..<4 {
                let byte = bytes[index]
                let digit: UInt32
                switch byte {
                case 48...57: digit = UInt32(byte - 48)
                case 65...70: digit = UInt32(byte - 55)
                case 97...102: digit = UInt32(byte - 87)
                default: throw error("invalid hex digit")
                }
                value = value << 4 | digit
                index += 1
            }
            return value
        }

        mutating func number() throws -> JSONValue {
            let start = index
            if index < bytes.count, bytes[index] == UInt8(ascii: "-") { index += 1 }
            guard index < bytes.count, (48...57).contains(bytes[index]) else { throw error("unexpected character") }
            if bytes[index] == 48 {
                index += 1
            } else {
                while index < bytes.count, (48...57).contains(bytes[index]) { index += 1 }
            }
            var integral = true
            if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
                integral = false
                index += 1
                guard index < bytes.count, (48...57).contains(bytes[index]) else { throw error("expected digits after '.'") }
                while index < bytes.count, (48...57).contains(bytes[index]) { index += 1 }
            }
            if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
                integral = false
                index += 1
                if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") { index += 1 }
                guard index < bytes.count, (48...57).contains(bytes[index]) else { throw error("expected exponent digits") }
                while index < bytes.count, (48...57).contains(bytes[index]) { index += 1 }
            }
            // Up to 18 digits always fit in Int: read directly, without making a String.
            let digitsStart = bytes[start] == UInt8(ascii: "-") ? start + 1 : start
            if integral, index - digitsStart <= 18 {
                var number = 0
                for position in digitsStart..<index { number = number &* 10 &+ Int(bytes[position] &- 48) }
                return .int(digitsStart > start ? -number : number)
            }
            let text = String(decoding: bytes[start..<index], as: UTF8.self)
            if integral { return Int(text).map(JSONValue.int) ?? .verbatimNumber(text) }
            guard let number = Double(text) else { throw ParseError(offset: start, reason: "invalid number") }
            // Beyond Double's range (1e400 reads as infinity), or below its smallest (1e-400 reads as zero though a
            // digit of its mantissa is not): the text, not a value it does not mean.
            let mantissa = bytes[start..<index].prefix { $0 != UInt8(ascii: "e") && $0 != UInt8(ascii: "E") }
            if !number.isFinite || (number == 0 && mantissa.contains { (49...57).contains($0) }) { return .verbatimNumber(text) }
            return .double(number)
        }
    }
}
