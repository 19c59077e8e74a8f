#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser

struct Unmount: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Unmount the recorder tree; the daemon then exits and every lock is dropped.")

    @OptionGroup var target: MountPointArgument

    func run() throws {
        try reporting {
            let mountPoint = normalizedMountPoint(target.mountPoint)
            guard recorderfsMount(at: mountPoint) != nil else {
                throw Failure("\(target.mountPoint) is not a recorderfs mount.")
            }
            if umount2(mountPoint, 0) == 0 { return }
            let code = errno
            if code == EBUSY { throw Failure("\(mountPoint) is busy: a program still uses the tree.") }
            if code == EPERM && runProgram(["fusermount3", "-u", mountPoint]) == 0 { return }
            throw Failure("cannot unmount \(mountPoint): \(errorText(code)).")
        }
    }
}
