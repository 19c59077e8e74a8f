import CLinux
#if canImport(Glibc)
import Glibc
#endif
import SystemPackage

/// The mounts of this mount namespace, from /proc/self/mountinfo.
public struct MountTable: Sendable {
    public struct Entry: Equatable, Sendable {
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
    public init(parsing text: String) {
        entries = text.split(separator: "\n").compactMap { line -> Entry? in
            let fields = line.split(separator: " ", omittingEmptySubsequences: false)
            guard fields.count >= 7, let dash = fields.firstIndex(of: "-"), dash + 2 < fields.count else { return nil }
            let numbers = fields[2].split(separator: ":")
            guard numbers.count == 2, let major = UInt64(numbers[0]), let minor = UInt64(numbers[1]) else { return nil }
            return Entry(
                device: deviceNumber(major: major, minor: minor),
                mountPoint: Self.unescape(fields[4]),
                fileSystemType: String(fields[dash + 1]),
                source: Self.unescape(fields[dash + 2]))
        }
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
        guard field.contains("\\") else { return String(field) }
        var bytes: [UInt8] = []
        var utf8 = Array(field.utf8)[...]
        while let byte = utf8.popFirst() {
            if byte == UInt8(ascii: "\\"), utf8.count >= 3,
               let value = UInt8(String(decoding: utf8.prefix(3), as: UTF8.self), radix: 8) {
                bytes.append(value)
                utf8 = utf8.dropFirst(3)
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// glibc's makedev(3), a macro Swift cannot import.
public func deviceNumber(major: UInt64, minor: UInt64) -> UInt64 {
    UInt64(rfs_makedev(UInt32(truncatingIfNeeded: major), UInt32(truncatingIfNeeded: minor)))
}
