@testable import LimsQueueCLI
import Testing

/// Client text in the command line's tables.
@Suite("Terminal text: cells padded by characters")
struct TerminalTextTests {
    @Test("a cell with emoji or CJK is padded to its column's width in characters and never cut inside a character")
    func paddedByCharacters() {
        // 7 characters, 8 UTF-16 units: Foundation's padding(toLength: 7) cut the emoji in half.
        #expect(TerminalText.padded("noop-é🧪", to: 7) == "noop-é🧪")
        #expect(TerminalText.padded("noop-é🧪", to: 9) == "noop-é🧪  ")
        #expect(TerminalText.padded("試料-🧪", to: 6) == "試料-🧪  ")
        #expect(TerminalText.padded("longer than", to: 3) == "longer than")
        #expect(!TerminalText.padded("noop-é🧪", to: 7).unicodeScalars.contains("\u{FFFD}"))
    }
}
