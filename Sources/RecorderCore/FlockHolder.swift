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

    static func exclusive(device: UInt64, inode: UInt64) -> FlockHolder? {
        guard let table = try? readFile("/proc/locks") else { return nil }
        guard let pid = exclusivePID(inLocks: table, device: device, inode: inode) else { return nil }
        let command = (try? readFile("/proc/\(pid)/comm")).map { text in
            String(text.prefix { $0 != "\n" })
        }
        return FlockHolder(pid: pid, command: command?.isEmpty == false ? command : nil)
    }

    /// The pid of the first granted exclusive FLOCK on the file in a
    /// /proc/locks table ("1: FLOCK  ADVISORY  WRITE 1234 00:05:678 0 EOF";
    /// waiters are marked "->" and skipped), other than this process's own.
    static func exclusivePID(inLocks table: String, device: UInt64, inode: UInt64) -> Int32? {
        let major = UInt64(rfs_major(dev_t(device)))
        let minor = UInt64(rfs_minor(dev_t(device)))
        for line in table.split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard fields.count >= 6, fields[1] == "FLOCK", fields[3] == "WRITE", let pid = Int32(fields[4]) else { continue }
            let place = fields[5].split(separator: ":")
            guard place.count == 3, UInt64(place[0], radix: 16) == major, UInt64(place[1], radix: 16) == minor,
                  UInt64(place[2]) == inode, pid != getpid() else { continue }
            return pid
        }
        return nil
    }
}
