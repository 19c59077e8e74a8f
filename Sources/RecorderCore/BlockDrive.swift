#if canImport(Glibc)
import Glibc
#endif
import CLinux
import Synchronization
import SystemPackage

/// A real drive: any block device node (an optical drive, or a loop device
/// standing in for one).
public final class BlockDrive: Drive {
    public let node: String
    /// The device the node reached when the recorder was made: every later
    /// open must reach it again, or fails (a symlink or node that now leads
    /// elsewhere is never acted on). Nil when the node was no block device.
    public let device: UInt64?
    /// The descriptor that carries the claim's flock (and O_EXCL when
    /// exclusive), while claimed.
    private let claimDescriptor = Mutex<FileDescriptor?>(nil)

    public init(node: String) {
        self.node = node
        device = FileStatus(path: node).flatMap { $0.isBlockDevice ? $0.deviceNumber : nil }
    }

    /// The device number of the node, which identifies its mounts.
    public func deviceNumber() throws(DriveError) -> UInt64 {
        guard let device else { throw .failed("\(node) is not a block device", errno: ENOTBLK) }
        return device
    }

    public func mountPoints() throws(DriveError) -> [String] {
        let device = try deviceNumber()
        do {
            return try MountTable.current().mountPoints(ofDevice: device)
        } catch {
            throw .failed("cannot read the mount table", errno: error.rawValue)
        }
    }

    public func unmount(_ mountPoint: String) throws(DriveError) -> UnmountOutcome {
        if retryingEINTR({ umount2(mountPoint, 0) }) == 0 { return .unmounted }
        let first = errno
        guard first == EBUSY else { throw Self.failure("unmount \(mountPoint)", errno: first) }
        if retryingEINTR({ umount2(mountPoint, Int32(MNT_DETACH)) }) == 0 { return .detachedLazily }
        throw Self.failure("unmount \(mountPoint)", errno: errno)
    }

    /// Refused while no volume is mounted, the O_EXCL open is tried again
    /// for up to 100 ms, to let a transient holder (udev's probe) go: only a
    /// holder that stays is reported busy.
    public func probeExclusive() throws(DriveError) {
        let patience = MonotonicInstant.now.advanced(byNanoseconds: Self.transientHolderNanoseconds)
        while true {
            do {
                let descriptor = try open(exclusive: true)
                try? descriptor.close()
                return
            } catch .busy(let why) {
                guard MonotonicInstant.now < patience, (try? mountPoints())?.isEmpty == true else { throw .busy(why) }
                var pause = timespec(tv_sec: 0, tv_nsec: 5_000_000)
                nanosleep(&pause, nil)
            }
        }
    }

    public func claim(exclusive: Bool, deadline: MonotonicInstant) throws(DriveError) {
        let descriptor = try open(exclusive: exclusive)
        // An exclusive flock held outside recorderfs is a refusal, once a
        // transient holder has had this long to let go.
        let patience = MonotonicInstant.now.advanced(byNanoseconds: Self.transientHolderNanoseconds)
        var pause: Int64 = 1_000_000
        while flock(descriptor.rawValue, LOCK_EX | LOCK_NB) != 0 {
            let error = errno
            guard error == EWOULDBLOCK || error == EINTR else {
                try? descriptor.close()
                throw Self.failure("flock", errno: error)
            }
            // udev holds short shared flocks while it processes an event.
            let now = MonotonicInstant.now
            if now >= patience, let holder = FlockHolder.exclusive(of: descriptor.rawValue) {
                try? descriptor.close()
                throw .busy("held outside recorderfs by \(holder)")
            }
            guard now < deadline else {
                try? descriptor.close()
                throw .timedOut
            }
            var spec = timespec(tv_sec: 0, tv_nsec: Int(min(pause, deadline.nanoseconds - now.nanoseconds)))
            nanosleep(&spec, nil)
            pause = min(pause * 2, 50_000_000)
        }
        let previous = claimDescriptor.withLock { held in
            defer { held = descriptor }
            return held
        }
        try? previous?.close()
    }

    /// How long a claim lets an exclusive holder (udev's probe, a short
    /// `flock`) go before it refuses: 100 ms.
    public static let transientHolderNanoseconds: Int64 = 100_000_000

    public func unclaim() {
        let descriptor = claimDescriptor.withLock { held in
            defer { held = nil }
            return held
        }
        try? descriptor?.close()
    }

    public func eject() throws(DriveError) {
        try trayCommand(RFS_CDROMEJECT, "eject")
    }

    public func closeTray() throws(DriveError) {
        try trayCommand(RFS_CDROMCLOSETRAY, "close the tray")
    }

    /// A device that is not a CD drive answers ENOTTY (or EINVAL).
    private func trayCommand(_ request: UInt, _ what: String) throws(DriveError) {
        let descriptor = try open(exclusive: false)
        defer { try? descriptor.close() }
        guard ioctl(descriptor.rawValue, request) == 0 else {
            let code = errno
            if code == ENOTTY || code == EINVAL || code == ENOSYS { throw .unsupported }
            throw Self.failure(what, errno: code)
        }
    }

    public func describe() -> DriveDescription {
        guard let device = Udev()?.blockDevice(node: node) else { return DriveDescription() }
        return DriveDescription(device)
    }

    /// Opens the node, and checks that it still reaches the recorder's device.
    private func open(exclusive: Bool) throws(DriveError) -> FileDescriptor {
        guard let device else { throw .replaced("\(node) is not a block device") }
        // Checked before the open too: even an O_EXCL open that fails at
        // once is nothing to do to another device.
        if let status = FileStatus(path: node), !status.isBlockDevice || status.deviceNumber != device {
            throw .replaced("\(node) no longer leads to the recorder's device \(Self.numbers(device))")
        }
        let flags = O_RDONLY | O_NONBLOCK | O_CLOEXEC | (exclusive ? O_EXCL : 0)
        let descriptor = retryingEINTR { Glibc.open(node, flags) }
        guard descriptor >= 0 else {
            let code = errno
            if exclusive && code == EBUSY {
                throw .busy("another program holds the drive exclusively")
            }
            throw Self.failure("open", errno: code)
        }
        guard let status = FileStatus(descriptor: descriptor), status.isBlockDevice, status.deviceNumber == device else {
            close(descriptor)
            throw .replaced("\(node) no longer leads to the recorder's device \(Self.numbers(device))")
        }
        return FileDescriptor(rawValue: descriptor)
    }

    /// "MAJOR:MINOR" of a device number.
    static func numbers(_ device: UInt64) -> String {
        "\(rfs_major(dev_t(device))):\(rfs_minor(dev_t(device)))"
    }

    static func failure(_ what: String, errno code: Int32) -> DriveError {
        switch code {
        case ENOENT, ENXIO, ENODEV: .gone
        case EBUSY: .busy("\(what): the device is busy")
        case ETIMEDOUT: .timedOut
        default: .failed("\(what): \(String(cString: strerror(code)))", errno: code)
        }
    }
}

/// Calls `body` again while it fails with EINTR.
@inline(__always)
func retryingEINTR(_ body: () -> Int32) -> Int32 {
    while true {
        let result = body()
        if result != -1 || errno != EINTR { return result }
    }
}
