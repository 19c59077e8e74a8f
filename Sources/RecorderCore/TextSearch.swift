// Substring search over UTF-8 bytes, for the parsers of command lines and
// state lines. The standard library's own (`firstRange(of:)`, `contains(_:)`
// with a string, `replacing(_:with:)`) lives in its string-processing
// module, half a megabyte of code whose pages a single call maps into the
// daemon (docs/performance.md, "The code the daemon runs, side by side").
//
// A match of bytes is a match of whole Unicode scalars (UTF-8 is
// self-synchronising), and the needles here are ASCII separators.

extension StringProtocol {
    /// The range of the first occurrence of `needle`'s UTF-8 bytes; nil
    /// when there is none (an empty needle matches at the start).
    public func firstRange(ofBytes needle: String) -> Range<Index>? {
        var needle = needle
        return needle.withUTF8 { pattern -> Range<Index>? in
            let bytes = utf8
            var start = bytes.startIndex
            while true {
                var at = start
                var matched = 0
                while matched < pattern.count, at != bytes.endIndex, bytes[at] == pattern[matched] {
                    bytes.formIndex(after: &at)
                    matched += 1
                }
                if matched == pattern.count { return start..<at }
                if start == bytes.endIndex { return nil }
                bytes.formIndex(after: &start)
            }
        }
    }

    /// The range of the last occurrence of `needle`'s UTF-8 bytes.
    public func lastRange(ofBytes needle: String) -> Range<Index>? {
        var found: Range<Index>?
        var rest = self[...]
        while let range = rest.firstRange(ofBytes: needle) {
            found = range
            guard range.lowerBound != rest.endIndex else { break }
            rest = rest[rest.unicodeScalars.index(after: range.lowerBound)...]
        }
        return found
    }

    /// Whether `needle`'s UTF-8 bytes occur in the text.
    public func contains(bytes needle: String) -> Bool {
        firstRange(ofBytes: needle) != nil
    }

    /// The text with every occurrence of `needle`'s bytes replaced by
    /// `replacement`.
    public func replacing(bytes needle: String, with replacement: String) -> String {
        var result = ""
        var rest = self[...]
        while !needle.isEmpty, let range = rest.firstRange(ofBytes: needle) {
            result += rest[..<range.lowerBound]
            result += replacement
            rest = rest[range.upperBound...]
        }
        result += rest
        return result
    }
}
