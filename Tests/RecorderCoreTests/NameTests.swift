import Testing
@testable import RecorderCore

/// docs/design.md §2: 1 to 63 bytes of `A-Z a-z 0-9`, space, `.` `,` `:` `;` `-` `_`;
/// one trailing "\n" stripped; anything else is EINVAL.
@Suite("Client names")
struct NameTests {
    /// The allowed set, written out independently of the parser.
    static let allowed: Set<UInt8> = Set(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 .,:;-_".utf8)

    func parse(_ bytes: [UInt8]) throws(RecorderError) -> String {
        try ClientName(parsing: bytes).value
    }

    /// `matches` (the nest of a write, issue E2) agrees with the parser: the
    /// bytes match a name exactly when they parse to it. Names short and of
    /// the longest length (a String stored apart, not inline), against
    /// themselves, with a newline, with each byte changed, cut or grown.
    @Test func matchesIsExactlyParsingToTheName() throws {
        let long = String(repeating: "x", count: ClientName.maxLength - 1) + "y"
        for text in ["A", "Bench", "My App_1.0", "fifteen bytes..", "sixteen bytes...", long] {
            let name = try ClientName(text)
            var candidates: [[UInt8]] = [Array(text.utf8), Array(text.utf8) + [10], Array(text.utf8) + [10, 10],
                                         Array(text.utf8.dropLast()), Array(text.utf8) + [UInt8(ascii: "z")], [], [10]]
            for offset in 0..<text.utf8.count {
                for byte: UInt8 in [0, 10, UInt8(ascii: "z"), 0xff] {
                    var changed = Array(text.utf8)
                    changed[offset] = byte
                    candidates.append(changed)
                }
            }
            for bytes in candidates {
                let parsed = try? ClientName(parsing: bytes)
                #expect(bytes.withUnsafeBytes { name.matches($0) } == (parsed == name), "\(text) against \(bytes)")
            }
        }
    }

    @Test func theAllowedSetHas69Bytes() {
        #expect(Self.allowed.count == 26 + 26 + 10 + 7)
    }

    @Test func everyAllowedByteIsAcceptedAlone() throws {
        for byte in Self.allowed.sorted() {
            #expect(try parse([byte]) == String(decoding: [byte], as: UTF8.self), "byte \(byte)")
        }
    }

    @Test func everyAllowedByteIsAcceptedTogether() throws {
        let all = Self.allowed.sorted()
        let first = Array(all.prefix(ClientName.maxLength))
        let rest = Array(all.dropFirst(ClientName.maxLength))
        #expect(try parse(first) == String(decoding: first, as: UTF8.self))
        #expect(try parse(rest) == String(decoding: rest, as: UTF8.self))
        #expect(try ClientName("My App_1.0: disc, copy; 2-3").value == "My App_1.0: disc, copy; 2-3")
    }

    /// Every byte value, alone, first, in the middle and last, against the set.
    @Test func everyByteValueIsCheckedAgainstTheAllowedSet() {
        for value in 0...255 {
            let byte = UInt8(value)
            let a = UInt8(ascii: "A")
            for bytes in [[byte], [byte, a], [a, byte, a]] {
                let accepted = (try? parse(bytes)) != nil
                #expect(accepted == Self.allowed.contains(byte), "byte \(value) in \(bytes)")
            }
            // Last: "\n" there is the one stripped newline.
            let accepted = (try? parse([a, byte])) != nil
            #expect(accepted == (Self.allowed.contains(byte) || byte == 0x0A), "byte \(value) last")
        }
    }

    @Test func lengthLimits() throws {
        #expect(try parse(Array("A".utf8)) == "A")
        let longest = String(repeating: "x", count: 63)
        #expect(try parse(Array(longest.utf8)) == longest)
        #expect(try parse(Array((longest + "\n").utf8)) == longest)

        expectFailure(.invalidName) { () throws(RecorderError) in try parse([]) }
        expectFailure(.invalidName) { () throws(RecorderError) in try parse(Array((longest + "x").utf8)) }
        expectFailure(.invalidName) { () throws(RecorderError) in try parse(Array((longest + "x\n").utf8)) }
        expectFailure(.invalidName) { () throws(RecorderError) in try parse(Array(repeating: 0x41, count: 4096)) }
    }

    @Test func oneTrailingNewlineIsStripped() throws {
        #expect(try parse(Array("AppA\n".utf8)) == "AppA")
        #expect(try ClientName("AppA\n") == ClientName("AppA"))
    }

    @Test(arguments: ["\n", "\n\n", "A\n\n", "A\nB", "A\nB\n", "\nA", "A\r\n", "A\r", "\r\n"])
    func otherNewlinesAreRefused(_ text: String) {
        expectFailure(.invalidName) { () throws(RecorderError) in try parse(Array(text.utf8)) }
    }

    @Test(arguments: [
        [0x41, 0x00], [0x00], [0x41, 0x00, 0x42],      // NUL
        [0x41, 0x7F],                                  // DEL
        Array("café".utf8), Array("日本".utf8),          // valid UTF-8, not ASCII
        [0x41, 0xFF], [0xC3], [0xC3, 0x28], [0x80],    // invalid UTF-8
        Array("a/b".utf8), Array("/".utf8), Array("../x".utf8),
        Array("A\tB".utf8), Array("A\\B".utf8), Array("A=B".utf8), Array("\"A\"".utf8),
    ] as [[UInt8]])
    func forbiddenBytesAreRefused(_ bytes: [UInt8]) {
        expectFailure(.invalidName) { () throws(RecorderError) in try parse(bytes) }
    }

    @Test func namesCompareByValue() throws {
        #expect(try ClientName("AppA") == ClientName(parsing: Array("AppA\n".utf8)))
        #expect(try ClientName("AppA") != ClientName("appa"))
        #expect(try ClientName("AppA").description == "AppA")
    }
}
