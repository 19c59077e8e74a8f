#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import RecorderCore

struct Unmount: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "unmount",
        abstract: "Unmount the recorder tree; the daemon then exits and every lock is dropped.")

    @Argument(help: ArgumentHelp("The mountpoint of the tree (or --mountpoint).", valueName: "mountpoint"))
    var path: String?

    @OptionGroup var target: MountPointOption

    @Flag(help: "Detach the tree now even while programs use it (umount -l); the daemon exits, and their locks drop, when the last of them closes its files.")
    var lazy = false

    func validate() throws {
        _ = try target.given(path)
    }

    func run() throws {
        let given = chosenMountPoint(try target.given(path))
        let mountPoint = normalizedMountPoint(given)
        guard recorderfsMount(at: mountPoint) != nil else {
            throw Failure("\(given) is not a recorderfs mount.")
        }
        if umount2(mountPoint, lazy ? Int32(MNT_DETACH) : 0) == 0 { return }
        let code = errno
        if code == EBUSY {
            let users = Self.users(of: mountPoint)
            let named = users.isEmpty ? "a program still uses the tree"
                : "used by " + users.prefix(5).map(\.description).joined(separator: ", ")
                    + (users.count > 5 ? " and \(users.count - 5) more" : "")
            throw Failure("\(mountPoint) is busy: \(named); end them, or run 'recorderfs unmount --lazy \(given)'.")
        }
        if code == EPERM && runProgram(["fusermount3", "-u"] + (lazy ? ["-z"] : []) + [mountPoint]) == 0 { return }
        throw Failure("cannot unmount \(mountPoint): \(errorText(code)).")
    }

    /// The processes that use the tree at `mountPoint`, as fuser -m would
    /// name them: an open file, the working or root directory, or the
    /// program itself under it. From /proc: the links, never the tree.
    static func users(of mountPoint: String) -> [FlockHolder] {
        let inside = mountPoint == "/" ? "/" : mountPoint + "/"
        func isInside(_ link: String) -> Bool {
            guard let target = linkTarget(link) else { return false }
            return target == mountPoint || target.hasPrefix(inside)
        }
        let me = getpid()
        let pids = directoryEntries("/proc").compactMap(Int32.init).filter { pid in
            guard pid != me else { return false }
            let base = "/proc/\(pid)"
            return ["cwd", "root", "exe"].contains { isInside("\(base)/\($0)") }
                || directoryEntries("\(base)/fd").contains { isInside("\(base)/fd/\($0)") }
        }
        return pids.sorted().map(FlockHolder.process)
    }
}
