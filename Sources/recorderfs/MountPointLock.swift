#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import RecorderCore

/// Serialises `recorderfs mount` on one mountpoint: an exclusive flock on a
/// file under /run/recorderfs named by a hash of the normalised mountpoint,
/// held from the check for an existing mount until the new mount is made.
/// Where that file cannot be opened (a user other than root, before root
/// made it), no lock is taken.
final class MountPointLock {
    static let directory = "/run/recorderfs"
    private var descriptor: Int32 = -1

    init(mountPoint: String) {
        if mkdir(Self.directory, 0o755) == 0 { chmod(Self.directory, 0o755) }
        let path = "\(Self.directory)/mountpoint-\(Self.hash(mountPoint)).lock"
        var opened = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o644)
        if opened < 0 { opened = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW) }
        guard opened >= 0 else { return }
        while flock(opened, LOCK_EX) != 0 {
            guard errno == EINTR else {
                close(opened)
                return
            }
        }
        descriptor = opened
    }

    func release() {
        guard descriptor >= 0 else { return }
        close(descriptor)
        descriptor = -1
    }

    deinit { release() }

    /// FNV-1a, 64 bits, in hex.
    static func hash(_ text: String) -> String {
        var value: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            value = (value ^ UInt64(byte)) &* 0x100_0000_01b3
        }
        let hex = String(value, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }
}
