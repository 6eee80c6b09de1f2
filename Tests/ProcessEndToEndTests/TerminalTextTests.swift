@testable import LimsQueueCLI
import QueueTesting
import Testing

/// Client text in the command line's tables.
@Suite("Terminal text: cells padded by characters")
struct TerminalTextTests {
    @Test("a cell with emoji or CJK is padded to its column's width in terminal columns and never cut inside a character")
    func paddedByColumns() {
        // 7 characters, 8 columns (the emoji takes two), 8 UTF-16 units: Foundation's padding(toLength: 7) cut it in half.
        #expect(TerminalText.padded("noop-é🧪", to: 8) == "noop-é🧪")
        #expect(TerminalText.padded("noop-é🧪", to: 10) == "noop-é🧪  ")
        // CJK characters and emoji take two columns each: 2 + 2 + 1 + 2 = 7.
        #expect(TerminalText.width("試料-🧪") == 7 && TerminalText.padded("試料-🧪", to: 9) == "試料-🧪  ")
        #expect(TerminalText.padded("longer than", to: 3) == "longer than")
        #expect(!TerminalText.padded("noop-é🧪", to: 7).unicodeScalars.contains("\u{FFFD}"))
    }

    @Test("terminal widths: ASCII and accents 1, CJK, Hangul, fullwidth and emoji (sequences too) 2, joiners and combining marks 0")
    func widths() {
        #expect(TerminalText.width("abc") == 3 && TerminalText.width("é") == 1 && TerminalText.width("e\u{301}") == 1)
        #expect(TerminalText.width("検体") == 4 && TerminalText.width("샘플") == 4 && TerminalText.width("ＡＢ") == 4)
        #expect(TerminalText.width("👩‍🔬") == 2 && TerminalText.width("❤️") == 2 && TerminalText.width("🇨🇭") == 2)
        #expect(TerminalText.width("\u{200D}") == 0 && TerminalText.width("\u{200B}") == 0)
        // Rows of mixed scripts line up: each cell padded to the same number of columns.
        let cells = ["noop", "検体-🧪", "ascii-long"]
        let widest = cells.map(TerminalText.width).max()!
        #expect(Set(cells.map { TerminalText.width(TerminalText.padded($0, to: widest)) }) == [widest])
        // A long name is cut by columns: 50 CJK characters to 79 columns and the ellipsis.
        let cut = TerminalText.safe(String(repeating: "検", count: 50), maxLength: 80)
        #expect(TerminalText.width(cut) <= 80 && cut.hasSuffix("…") && TerminalText.width(cut) >= 78)
        #expect(TerminalText.safe(String(repeating: "a", count: 100), maxLength: 80).count == 80)
        // A name that would show nothing (only spaces, only a zero-width joiner) is escaped whole; the empty name stays empty.
        #expect(TerminalText.safe("  ") == "\\u{20}\\u{20}")
        #expect(TerminalText.safe("\u{200D}") == "\\u{200D}")
        #expect(TerminalText.safe("\u{3164}") == "\\u{3164}" && TerminalText.safe("\u{2800}\u{2800}") == "\\u{2800}\\u{2800}")
        #expect(TerminalText.safe("") == "")
        // Inside a name, invisible characters are escaped (`a\u{200D}b` looked like `ab`), but the joiners and
        // variation selectors of emoji and of scripts that need them stay.
        for (name, shown) in [("a\u{200D}b", "a\\u{200D}b"), ("ab\u{200D}", "ab\\u{200D}"), ("a\u{FE0F}b", "a\\u{FE0F}b"),
                              ("a\u{034F}b", "a\\u{34F}b"), ("a\u{E000}b", "a\\u{E000}b"), ("a\u{2800}b", "a\\u{2800}b"),
                              ("a\u{3164}b", "a\\u{3164}b"), ("a\u{0085}b", "a\\u{85}b")] {
            #expect(TerminalText.safe(name) == shown, "\(name.unicodeScalars.map(\.value)): \(TerminalText.safe(name))")
        }
        for kept in ["👨\u{200D}👩\u{200D}👧", "❤\u{FE0F}", "1\u{FE0F}\u{20E3}", "می\u{200C}خواهم", "क्\u{200D}ष"] {
            #expect(TerminalText.safe(kept) == kept, "\(kept.unicodeScalars.map(\.value))")
        }
        // Only trailing spaces are trimmed from a line; a name's leading spaces stay.
        #expect(TerminalText.trimmedEnd("  name   3   ") == "  name   3")
    }

    @Test("`tasks` lines up rows of CJK and emoji names and keeps a name's leading spaces")
    func tasksTableAligned() {
        let tasks = [TaskFactory.task("検体🧪-submit", context: "ws-1", created: 1_767_225_600), TaskFactory.task("noop", context: "ws-2", created: 1_767_225_600),
                     TaskFactory.task("  spaced", context: "ws-3", created: 1_767_225_600)]
        let lines = TaskTable.render(tasks).split(separator: "\n").map(String.init).filter { $0.contains("/senaite/") }
        #expect(lines.count == 3)
        // The CONTEXT column starts at the same terminal column on every row.
        let starts = lines.map { line in TerminalText.width(String(line[..<line.range(of: "/senaite/")!.lowerBound])) }
        #expect(Set(starts).count == 1, "\(starts)")
        #expect(lines[2].contains("   spaced  "))
    }
}
