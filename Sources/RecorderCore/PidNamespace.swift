#if canImport(Glibc)
import Glibc
#endif
import CLinux

/// Pids as another process's pid namespace sees them: `holders` read in a
/// container shows the holder's pid there, or none (docs/design.md §6).
public enum PidNamespace {
    /// The daemon's own pid namespace (device and inode of its nsfs file).
    static let own: (UInt64, UInt64)? = identity("/proc/self/ns/pid")

    /// `pid` (of the daemon's namespace) as `reader` (likewise) sees it: the
    /// same where the reader shares the daemon's namespace; where it does
    /// not, the pid in the reader's namespace, or nil when the process is not
    /// visible there (outside the container) or cannot be looked at.
    public static func pid(_ pid: Int32, asSeenBy reader: Int32) -> Int32? {
        guard let readerNamespace = identity("/proc/\(reader)/ns/pid"), let own else { return pid }
        if readerNamespace == own { return pid }
        // NSpid lists a process's pid in each namespace from ours inwards.
        guard let readerDepth = nsPIDs(reader)?.count, readerDepth >= 1,
              let holder = nsPIDs(pid), holder.count >= readerDepth else { return nil }
        // The holder's namespace at the reader's depth must be the reader's.
        var namespace = open("/proc/\(pid)/ns/pid", O_RDONLY | O_CLOEXEC)
        guard namespace >= 0 else { return nil }
        for _ in 0..<(holder.count - readerDepth) {
            let parent = ioctl(namespace, RFS_NS_GET_PARENT)
            close(namespace)
            guard parent >= 0 else { return nil }
            namespace = parent
        }
        defer { close(namespace) }
        guard let status = FileStatus(descriptor: namespace), (status.device, status.inode) == readerNamespace else { return nil }
        return holder[readerDepth - 1]
    }

    static func identity(_ path: String) -> (UInt64, UInt64)? {
        FileStatus(path: path).map { ($0.device, $0.inode) }
    }

    /// The NSpid line of /proc/PID/status: "NSpid:\t1234\t56\t1".
    static func nsPIDs(_ pid: Int32) -> [Int32]? {
        guard let status = try? readFile("/proc/\(pid)/status") else { return nil }
        return nsPIDs(inStatus: status)
    }

    static func nsPIDs(inStatus status: String) -> [Int32]? {
        guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix("NSpid:") }) else { return nil }
        let pids = line.dropFirst("NSpid:".count).split(whereSeparator: { $0 == "\t" || $0 == " " }).compactMap { Int32($0) }
        return pids.isEmpty ? nil : pids
    }
}
