#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser

struct Unmount: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "unmount",
        abstract: "Unmount the recorder tree; the daemon then exits and every lock is dropped.")

    @Argument(help: ArgumentHelp("The mountpoint of the tree (or --mountpoint).", valueName: "mountpoint"))
    var path: String?

    @OptionGroup var target: MountPointOption

    func validate() throws {
        _ = try target.given(path)
    }

    func run() throws {
        let given = chosenMountPoint(try target.given(path))
        let mountPoint = normalizedMountPoint(given)
        guard recorderfsMount(at: mountPoint) != nil else {
            throw Failure("\(given) is not a recorderfs mount.")
        }
        if umount2(mountPoint, 0) == 0 { return }
        let code = errno
        if code == EBUSY { throw Failure("\(mountPoint) is busy: a program still uses the tree.") }
        if code == EPERM && runProgram(["fusermount3", "-u", mountPoint]) == 0 { return }
        throw Failure("cannot unmount \(mountPoint): \(errorText(code)).")
    }
}
