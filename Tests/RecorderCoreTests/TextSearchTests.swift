import Testing
@testable import RecorderCore

/// The byte-wise substring search that keeps the standard library's
/// string-processing module out of the daemon.
@Suite("Searching text by its bytes")
struct TextSearchTests {
    @Test("the first and the last occurrence, in strings and substrings")
    func firstAndLast() {
        let text = "r0=/dev/a,sg=/dev/b,sg=/dev/c"
        #expect(text.firstRange(ofBytes: ",sg=").map { text[$0.upperBound...] } == "/dev/b,sg=/dev/c")
        #expect(text.lastRange(ofBytes: ",sg=").map { text[$0.upperBound...] } == "/dev/c")
        #expect(text.lastRange(ofBytes: ",sg=").map { text[..<$0.lowerBound] } == "r0=/dev/a,sg=/dev/b")
        let tail = text.dropFirst(10)
        #expect(tail.firstRange(ofBytes: ",sg=").map { tail[..<$0.lowerBound] } == "sg=/dev/b")
        #expect(text.firstRange(ofBytes: ",sg=x") == nil)
        #expect(text.lastRange(ofBytes: "c") == text.index(before: text.endIndex)..<text.endIndex)
        #expect("".firstRange(ofBytes: "a") == nil)
        #expect("ab".firstRange(ofBytes: "abc") == nil)
    }

    @Test("overlapping candidates, and an empty needle at the start")
    func overlaps() {
        let text = "aaab"
        #expect(text.firstRange(ofBytes: "aab").map { String(text[$0]) } == "aab")
        #expect(text.firstRange(ofBytes: "aab")?.lowerBound == text.index(after: text.startIndex))
        #expect(text.lastRange(ofBytes: "aa")?.lowerBound == text.index(after: text.startIndex))
        #expect(text.firstRange(ofBytes: "") == text.startIndex..<text.startIndex)
    }

    @Test("text beyond ASCII is matched by whole scalars and kept whole")
    func unicode() {
        let text = "Brennwerk ü:/dev/sg0 é:/x"
        #expect(text.lastRange(ofBytes: ":/").map { text[..<$0.lowerBound] } == "Brennwerk ü:/dev/sg0 é")
        #expect(text.contains(bytes: "ü:/"))
        #expect(!text.contains(bytes: "u:/"))
        #expect("it's é's".replacing(bytes: "'", with: "'\\''") == "it'\\''s é'\\''s")
        #expect("no quote".replacing(bytes: "'", with: "x") == "no quote")
        #expect("''".replacing(bytes: "'", with: "") == "")
    }
}
