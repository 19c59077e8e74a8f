import CLinux
#if canImport(Glibc)
import Glibc
#endif
import SystemPackage

/// The mounts of this mount namespace, from /proc/self/mountinfo.
public struct MountTable: Sendable {
    public struct Entry: Equatable, Sendable {
        /// The mount's ID (the first field; `mnt_id` in /proc/PID/fdinfo).
        public var id: Int = 0
        public var device: UInt64
        public var mountPoint: String
        public var fileSystemType: String
        public var source: String
    }

    public var entries: [Entry]

    public static func current() throws(Errno) -> MountTable {
        MountTable(parsing: try readFile("/proc/self/mountinfo"))
    }

    /// Parses mountinfo(5): `ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [TAGS] - TYPE SOURCE SUPER`.
    /// It walks the bytes: the table is ASCII framing around escaped fields,
    /// and `hold` reads it on every start (docs/operations.md, "Start-up").
    public init(parsing text: String) {
        var text = text
        entries = text.withUTF8 { bytes in
            var entries: [Entry] = []
            var start = 0
            while start < bytes.count {
                var end = start
                while end < bytes.count && bytes[end] != UInt8(ascii: "\n") { end += 1 }
                if let entry = Self.entry(UnsafeBufferPointer(rebasing: bytes[start..<end])) { entries.append(entry) }
                start = end + 1
            }
            return entries
        }
    }

    /// One line of mountinfo, its fields separated by single spaces. The
    /// fields are taken one after the other, with no array of them: `hold`
    /// parses every line of the table at each start.
    static func entry(_ line: UnsafeBufferPointer<UInt8>) -> Entry? {
        var start = 0  // of the next field; past line.count when there is none
        func next() -> UnsafeBufferPointer<UInt8>? {
            guard start <= line.count else { return nil }
            var end = start
            while end < line.count && line[end] != UInt8(ascii: " ") { end += 1 }
            defer { start = end + 1 }
            return UnsafeBufferPointer(rebasing: line[start..<end])
        }
        // ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [TAGS...] - TYPE SOURCE ...
        guard let id = next().flatMap(decimal), next() != nil, let numbers = next(), next() != nil,
              let mountPoint = next(), next() != nil else { return nil }
        var separated = false
        while let field = next() {
            if field.count == 1 && field[0] == UInt8(ascii: "-") { separated = true; break }
        }
        guard separated, let type = next(), let source = next(),
              let colon = numbers.firstIndex(of: UInt8(ascii: ":")),
              let major = decimal(UnsafeBufferPointer(rebasing: numbers[..<colon])),
              let minor = decimal(UnsafeBufferPointer(rebasing: numbers[(colon + 1)...])) else { return nil }
        return Entry(
            id: Int(truncatingIfNeeded: id),
            device: deviceNumber(major: major, minor: minor),
            mountPoint: unescape(mountPoint),
            fileSystemType: String(decoding: type, as: UTF8.self),
            source: unescape(source))
    }

    /// Digits only, at least one, no overflow.
    static func decimal(_ digits: UnsafeBufferPointer<UInt8>) -> UInt64? {
        guard !digits.isEmpty else { return nil }
        var value: UInt64 = 0
        for digit in digits {
            guard digit >= UInt8(ascii: "0") && digit <= UInt8(ascii: "9") else { return nil }
            let (times, overflow) = value.multipliedReportingOverflow(by: 10)
            let (sum, carry) = times.addingReportingOverflow(UInt64(digit - UInt8(ascii: "0")))
            guard !overflow && !carry else { return nil }
            value = sum
        }
        return value
    }

    /// Mount points of `device`, in mount order (deepest last).
    public func mountPoints(ofDevice device: UInt64) -> [String] {
        entries.filter { $0.device == device }.map(\.mountPoint)
    }

    /// The entry mounted at `path`, the last one if several are stacked.
    public func entry(at path: String) -> Entry? {
        entries.last { $0.mountPoint == path }
    }

    /// mountinfo escapes space, tab, newline and backslash as \ooo.
    static func unescape(_ field: Substring) -> String {
        var text = String(field)
        return text.withUTF8 { unescape($0) }
    }

    static func unescape(_ field: UnsafeBufferPointer<UInt8>) -> String {
        guard field.contains(UInt8(ascii: "\\")) else { return String(decoding: field, as: UTF8.self) }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(field.count)
        var index = 0
        while index < field.count {
            if field[index] == UInt8(ascii: "\\"), index + 3 < field.count,
               let value = octal(field[index + 1], field[index + 2], field[index + 3]) {
                bytes.append(value)
                index += 4
            } else {
                bytes.append(field[index])
                index += 1
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Three octal digits, at most 377.
    private static func octal(_ first: UInt8, _ second: UInt8, _ third: UInt8) -> UInt8? {
        var value = 0
        for digit in [first, second, third] {
            guard digit >= UInt8(ascii: "0") && digit <= UInt8(ascii: "7") else { return nil }
            value = value * 8 + Int(digit - UInt8(ascii: "0"))
        }
        return value <= 255 ? UInt8(value) : nil
    }
}

/// glibc's makedev(3), a macro Swift cannot import.
public func deviceNumber(major: UInt64, minor: UInt64) -> UInt64 {
    UInt64(rfs_makedev(UInt32(truncatingIfNeeded: major), UInt32(truncatingIfNeeded: minor)))
}
