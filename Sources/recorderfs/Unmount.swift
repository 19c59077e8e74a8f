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
        guard let mount = recorderfsMount(at: mountPoint) else {
            throw Failure("\(given) is not a recorderfs mount.")
        }
        if umount2(mountPoint, lazy ? Int32(MNT_DETACH) : 0) == 0 { return }
        let code = errno
        if code == EBUSY {
            let users = Self.users(of: mount)
            let named = users.isEmpty ? "a program still uses the tree"
                : "used by " + users.prefix(5).map(\.description).joined(separator: ", ")
                    + (users.count > 5 ? " and \(users.count - 5) more" : "")
            throw Failure("\(mountPoint) is busy: \(named); end them, or run 'recorderfs unmount --lazy \(shellQuoted(given))'.")
        }
        if code == EPERM && runProgram(["fusermount3", "-u"] + (lazy ? ["-z"] : []) + [mountPoint]) == 0 { return }
        throw Failure("cannot unmount \(mountPoint): \(errorText(code)).")
    }

    /// The processes that use the tree `mount`, as fuser -m would name
    /// them: an open file (its mount ID in /proc/PID/fdinfo), the working
    /// or root directory, or the program itself (by path, byte for byte).
    /// From /proc only: nothing here touches the tree.
    static func users(of mount: MountTable.Entry) -> [FlockHolder] {
        let top = Array(mount.mountPoint.utf8)
        func isInside(_ link: String) -> Bool {
            guard let target = linkTarget(link).map({ Array($0.utf8) }) else { return false }
            return target == top || (target.starts(with: top) && (top == [UInt8(ascii: "/")] || target[top.count] == UInt8(ascii: "/")))
        }
        func isOnTheMount(_ fdinfo: String) -> Bool {
            guard let text = try? readFile(fdinfo),
                  let line = text.split(separator: "\n").first(where: { $0.hasPrefix("mnt_id:") }) else { return false }
            return Int(line.dropFirst(7).filter { $0 != "\t" && $0 != " " }) == mount.id
        }
        let me = getpid()
        let pids = directoryEntries("/proc").compactMap(Int32.init).filter { pid in
            guard pid != me else { return false }
            let base = "/proc/\(pid)"
            return ["cwd", "root", "exe"].contains { isInside("\(base)/\($0)") }
                || directoryEntries("\(base)/fd").contains { isOnTheMount("\(base)/fdinfo/\($0)") }
        }
        return pids.sorted().map(FlockHolder.process)
    }
}

/// `text` as one word of sh: as it is when it holds only safe characters,
/// else in single quotes.
func shellQuoted(_ text: String) -> String {
    let safe = text.utf8.allSatisfy { byte in
        (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")) || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
            || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")) || "/._-+,:@%=".utf8.contains(byte)
    }
    return safe && !text.isEmpty ? text : "'" + text.replacing(bytes: "'", with: "'\\''") + "'"
}
