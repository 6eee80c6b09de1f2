import Foundation
import LIMSCore

/// The words of the catalog's search, and the tokens an object is found by: what the samples and worksheets lists'
/// search box matches, answered from an index whatever the lab's size.
///
/// As SENAITE's listing search (`listing_searchable_text`, a ZCTextIndex: the text split into words, a query word
/// matching the start of a word, `H2O-0001` found by `h2o`, `0001`, `h2o-0001` or `H2O-00`): the words of a text are
/// its runs of letters and digits, folded (``words(_:)``); an object is found by a query when each query word starts a word of the
/// object. The index stores every prefix of every word (`h`, `h2`, `h2o`, `0`, `00`, `000`, `0001` for `H2O-0001`), so
/// a query word is one equality on the index, read in the listing's order (newest first): a search costs the page it
/// answers, where `LIKE '%text%'` over the ids read every sample (436 ms for a page at 200,000 samples).
///
/// Searched: a sample's id, client sample id and client (its name and code), a worksheet's id (``portalTypes``). A
/// client's words are stored once, on the client (``indexedTypes``), not on each of its samples: a search finds the
/// clients a word names, then their samples (``SQLLabStore``'s catalog), so a client's rename rewrites one object's
/// rows and a sample keeps about 7 rows, not 17 or more with its client's name.
/// Source: Products.ZCTextIndex (word splitting, globbing), senaite.app.listing's search box; SENAITE's samples
/// listing searches the client's title among its `listing_searchable_text`.
enum SearchWords {
    /// The portal types a catalog search reads through the index; a search of any other type reads its ids (`LIKE`).
    static let portalTypes: Set<PortalType> = [.sample, .worksheet]

    /// The portal types whose objects have rows in the index: the searched ones and clients, whose words find their
    /// samples (``texts(of:)``).
    static let indexedTypes: Set<PortalType> = portalTypes.union([.client])

    /// Longest word prefix stored, in characters: a longer word is found by its first 24 characters, and a longer
    /// query word matches every word that starts with its first 24 (ids and client sample ids rarely hold such words).
    static let maxPrefixLength = 24

    /// The words of `text`: its maximal runs of letters and digits, folded, in order (repeats kept). Folded: the
    /// compatibility composition (NFKC: `é` typed or stored as `e` + accent alike, full-width `ｆ` as `f`), then
    /// without case and accents (`Straße` as `strasse`, `ΣΊΣΥΦΟΣ` and `σίσυφος` alike, `İstanbul` as `istanbul`,
    /// `école` as `ecole`), so text that looks the same is found the same way however it was typed.
    static func words(_ text: String) -> [String] {
        var words: [String] = []
        var current = ""
        let folded = text.precomposedStringWithCompatibilityMapping.folding(options: [.caseInsensitive, .diacriticInsensitive], locale: nil)
        for character in folded {
            if character.isLetter || character.isNumber {
                current.append(character)
            } else if !current.isEmpty {
                words.append(current)
                current = ""
            }
        }
        if !current.isEmpty { words.append(current) }
        return words
    }

    /// The query words of a search text, each cut to ``maxPrefixLength``, repeats and words that start another
    /// (a word whose match the longer one implies) dropped, longest first (the most selective, the one a search reads
    /// the index by), at most ``maxQueryWords``. Empty when the text has no letter or digit.
    static func query(_ text: String) -> [String] {
        func longestFirst(_ lhs: String, _ rhs: String) -> Bool { lhs.count != rhs.count ? lhs.count > rhs.count : lhs < rhs }
        let cut = Set(words(text).map { String($0.prefix(maxPrefixLength)) }).sorted(by: longestFirst).prefix(4 * maxQueryWords)
        return Array(cut.filter { word in !cut.contains { $0 != word && $0.hasPrefix(word) } }.prefix(maxQueryWords))
    }

    /// The most words a search uses: its 8 longest. More made one statement per search that PostgreSQL took seconds to
    /// plan (40 words: 2.4 s of planning) and SQLite refused (1,100 words: "Expression tree is too large"); a sample's
    /// id and client sample id rarely hold more than a few words, so a longer search only widens its answer.
    static let maxQueryWords = 8

    /// The texts of `object` the search finds it by (a client's: those that find its samples): nil for a type the
    /// index does not hold (``indexedTypes``).
    static func texts(of object: any LabObject) -> [String]? {
        switch object {
        case let sample as Sample: return [sample.id] + (sample.clientSampleID.map { [$0] } ?? [])
        case let worksheet as Worksheet: return [worksheet.id]
        case let client as Client: return [client.name, client.clientID]
        default: return nil
        }
    }

    /// The tokens `object` is stored with: every prefix (1 to ``maxPrefixLength`` characters) of every word of its
    /// texts, sorted; nil for a type the index does not hold.
    static func tokens(of object: any LabObject) -> [String]? {
        guard let texts = texts(of: object) else { return nil }
        var tokens: Set<String> = []
        for word in texts.flatMap(words) {
            var prefix = ""
            for character in word.prefix(maxPrefixLength) {
                prefix.append(character)
                tokens.insert(prefix)
            }
        }
        return tokens.sorted()
    }
}
