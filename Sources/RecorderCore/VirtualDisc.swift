#if canImport(Glibc)
import Glibc
#endif
import CLinux
import SystemPackage

/// A stand-in drive for trying recorderfs without one: a loop device on a
/// small, unlinked image file. The loop device is attached with autoclear, and
/// this object keeps it open, so the kernel detaches it by itself when the
/// daemon exits, however it exits.
public final class VirtualDisc: Sendable {
    public let node: String
    private let keeper: FileDescriptor

    /// Creates the image (sparse, `size` bytes) and attaches it.
    public init(size: Int64 = 16 << 20, directory: String = "/tmp") throws(DriveError) {
        var template = Array("\(directory)/recorderfs-virtual-XXXXXX".utf8CString)
        let image = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard image >= 0 else { throw BlockDrive.failure("create an image in \(directory)", errno: errno) }
        let imagePath = String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
        defer {
            close(image)
            unlink(imagePath)
        }
        guard ftruncate(image, off_t(size)) == 0 else { throw BlockDrive.failure("size the image", errno: errno) }

        let control = open("/dev/loop-control", O_RDWR | O_CLOEXEC)
        guard control >= 0 else { throw BlockDrive.failure("open /dev/loop-control", errno: errno) }
        defer { close(control) }

        var config = loop_config()
        config.fd = UInt32(image)
        config.info.lo_flags = UInt32(LO_FLAGS_AUTOCLEAR)

        // Another program may take the free device between the two calls.
        for _ in 0..<16 {
            let number = ioctl(control, RFS_LOOP_CTL_GET_FREE)
            guard number >= 0 else { throw BlockDrive.failure("find a free loop device", errno: errno) }
            let path = "/dev/loop\(number)"
            let loop = open(path, O_RDWR | O_CLOEXEC)
            guard loop >= 0 else { throw BlockDrive.failure("open \(path)", errno: errno) }
            let configured = ioctl(loop, RFS_LOOP_CONFIGURE, &config)
            if configured == 0 {
                node = path
                keeper = FileDescriptor(rawValue: loop)
                return
            }
            let error = errno
            close(loop)
            guard error == EBUSY else { throw BlockDrive.failure("attach \(path)", errno: error) }
        }
        throw .busy("no free loop device")
    }

    /// Lets the kernel detach the loop device (autoclear) once nobody else
    /// has it open.
    public func detach() {
        try? keeper.close()
    }
}
