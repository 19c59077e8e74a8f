#if canImport(Glibc)
import Glibc
#endif

/// A validated client name: what the Windows driver accepts for
/// `CDROM_EXCLUSIVE_LOCK.CallerName` (docs/design.md §2).
public struct ClientName: Hashable, Sendable, CustomStringConvertible {
    public static let maxLength = 63

    /// The name, which holds only printable ASCII of the allowed set.
    public let value: String

    public var description: String { value }

    /// Parses the bytes of exactly one write(2): one trailing "\n" is
    /// stripped, the rest must be 1 to 63 allowed bytes.
    public init<Bytes: BidirectionalCollection<UInt8>>(parsing bytes: Bytes) throws(RecorderError) {
        value = try Self.parsed(bytes)
    }

    /// The same for the bytes of a write as the FUSE layer has them: a
    /// concrete type, so that the parser is specialised here and the hot
    /// path of another module pays no generic dispatch (it did: a quarter of
    /// the daemon's time in a nested write).
    ///
    /// The same rules as `parsed`, over the buffer's bytes by index, and the
    /// String made from a typed buffer (the fast path of String's UTF-8
    /// decoding): a third of what the generic parser cost here (callgrind).
    public init(parsing bytes: UnsafeRawBufferPointer) throws(RecorderError) {
        var count = bytes.count
        if count > 0 && bytes[count - 1] == UInt8(ascii: "\n") { count -= 1 }
        guard count > 0 else { throw .invalidName("empty") }
        guard count <= Self.maxLength else {
            throw .invalidName("longer than \(Self.maxLength) bytes")
        }
        for offset in 0..<count where !Self.isAllowed(bytes[offset]) {
            throw .invalidName("byte \(bytes[offset]) at offset \(offset) is not allowed")
        }
        let typed = bytes.assumingMemoryBound(to: UInt8.self)
        value = String(decoding: UnsafeBufferPointer(rebasing: typed[..<count]), as: UTF8.self)
    }

    private static func parsed<Bytes: BidirectionalCollection<UInt8>>(_ bytes: Bytes) throws(RecorderError) -> String {
        var body = bytes[...]
        if body.last == UInt8(ascii: "\n") { body = body.dropLast() }
        guard !body.isEmpty else { throw .invalidName("empty") }
        guard body.count <= Self.maxLength else {
            throw .invalidName("longer than \(Self.maxLength) bytes")
        }
        for (offset, byte) in body.enumerated() where !Self.isAllowed(byte) {
            throw .invalidName("byte \(byte) at offset \(offset) is not allowed")
        }
        return String(decoding: body, as: UTF8.self)
    }

    /// Whether `bytes`, as a write gives them (one newline at the end is
    /// not part of the name), are this name: true exactly when
    /// `init(parsing:)` would read them as it, without making a String.
    public func matches(_ bytes: UnsafeRawBufferPointer) -> Bool {
        var count = bytes.count
        if count > 0 && bytes[count - 1] == UInt8(ascii: "\n") { count -= 1 }
        // Over the String's own bytes, with memcmp (a generic
        // `elementsEqual` of the two sequences costs some 60 instructions a
        // byte; a mutable copy and `withUTF8`, some 90 a call).
        return value.utf8.withContiguousStorageIfAvailable { utf8 in
            utf8.count == count && (count == 0 || memcmp(utf8.baseAddress!, bytes.baseAddress!, count) == 0)
        } ?? value.utf8.elementsEqual(UnsafeRawBufferPointer(rebasing: bytes[..<count]))
    }

    public init(_ string: String) throws(RecorderError) {
        try self.init(parsing: Array(string.utf8))
    }

    /// `A-Z a-z 0-9`, space, `.` `,` `:` `;` `-` `_`.
    @inline(__always)
    static func isAllowed(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"),
             UInt8(ascii: "a")...UInt8(ascii: "z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"),
             UInt8(ascii: " "), UInt8(ascii: "."), UInt8(ascii: ","),
             UInt8(ascii: ":"), UInt8(ascii: ";"), UInt8(ascii: "-"), UInt8(ascii: "_"):
            true
        default:
            false
        }
    }
}
