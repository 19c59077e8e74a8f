#if canImport(Glibc)
import Glibc
#endif
import CLinux

/// A process that holds a flock on a file, as /proc/locks shows it: for
/// telling who keeps a drive when recorderfs cannot claim it.
public struct FlockHolder: Equatable, Sendable, CustomStringConvertible {
    public var pid: Int32
    /// The process's name (/proc/PID/comm), when it can be read.
    public var command: String?

    public var description: String {
        command.map { "pid \(pid) (\($0))" } ?? "pid \(pid)"
    }

    /// Who holds an exclusive flock on the file open as `descriptor`, if
    /// anyone outside this process does.
    public static func exclusive(of descriptor: Int32) -> FlockHolder? {
        guard let status = FileStatus(descriptor: descriptor) else { return nil }
        return exclusive(device: status.device, inode: status.inode)
    }

    /// Who holds an exclusive flock on the file at `path`.
    public static func exclusive(ofPath path: String) -> FlockHolder? {
        guard let status = FileStatus(path: path) else { return nil }
        return exclusive(device: status.device, inode: status.inode)
    }

    /// Who holds a flock on the file open as `descriptor`, shared or
    /// exclusive, if anyone outside this process does.
    public static func any(of descriptor: Int32) -> FlockHolder? {
        guard let status = FileStatus(descriptor: descriptor) else { return nil }
        return holder(device: status.device, inode: status.inode, exclusiveOnly: false)
    }

    static func exclusive(device: UInt64, inode: UInt64) -> FlockHolder? {
        holder(device: device, inode: inode, exclusiveOnly: true)
    }

    static func holder(device: UInt64, inode: UInt64, exclusiveOnly: Bool) -> FlockHolder? {
        guard let table = try? readFile("/proc/locks") else { return nil }
        guard let pid = holderPID(inLocks: table, device: device, inode: inode, exclusiveOnly: exclusiveOnly) else { return nil }
        return process(pid)
    }

    /// The process `pid`, with its name.
    public static func process(_ pid: Int32) -> FlockHolder {
        // A process names itself (prctl): control characters are shown as "?".
        let command = (try? readFile("/proc/\(pid)/comm")).map { text in
            String(String.UnicodeScalarView(text.prefix { $0 != "\n" }.unicodeScalars.map {
                $0.value < 0x20 || $0.value == 0x7f ? "?" : $0
            }))
        }
        return FlockHolder(pid: pid, command: command?.isEmpty == false ? command : nil)
    }

    /// The pid of the first granted exclusive (or, unless `exclusiveOnly`,
    /// shared) FLOCK on the file in a /proc/locks table ("1: FLOCK  ADVISORY
    /// WRITE 1234 00:05:678 0 EOF"; waiters are marked "->" and skipped),
    /// other than this process's own.
    static func holderPID(inLocks table: String, device: UInt64, inode: UInt64, exclusiveOnly: Bool = true) -> Int32? {
        let major = UInt64(rfs_major(dev_t(device)))
        let minor = UInt64(rfs_minor(dev_t(device)))
        for line in table.split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard fields.count >= 6, fields[1] == "FLOCK",
                  fields[3] == "WRITE" || (!exclusiveOnly && fields[3] == "READ"), let pid = Int32(fields[4]) else { continue }
            let place = fields[5].split(separator: ":")
            guard place.count == 3, UInt64(place[0], radix: 16) == major, UInt64(place[1], radix: 16) == minor,
                  UInt64(place[2]) == inode, pid != getpid() else { continue }
            return pid
        }
        return nil
    }
}
