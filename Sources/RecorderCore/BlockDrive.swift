#if canImport(Glibc)
import Glibc
#endif
import CLinux
import Logging
import Synchronization
import SystemPackage

/// How a `BlockDrive` claims its drive and keeps it quiet while locked
/// (docs/design.md §4).
public struct DriveSettings: Sendable {
    /// The drive's SCSI generic node, claimed together with the block node;
    /// nil: the one udev names for the drive, if any.
    public var genericNode: String?
    /// The root of sysfs, where the drive's `events_poll_msecs` and `uevent` are.
    public var sysfs: String
    /// Pause media polling while locked, and have udev look at the medium
    /// again after a release (`mount --no-quiet`: false).
    public var quiet: Bool
    /// Where paused polling intervals are recorded; nil: nowhere.
    public var pollingRecords: String?

    public init(genericNode: String? = nil, sysfs: String = "/sys", quiet: Bool = true,
                pollingRecords: String? = MediaPolling.recordDirectory) {
        self.genericNode = genericNode
        self.sysfs = sysfs
        self.quiet = quiet
        self.pollingRecords = pollingRecords
    }
}

/// A device node, and the device it reached when the drive was made: every
/// later open must reach it again, or fails (a symlink or node that now
/// leads elsewhere is never acted on).
struct PinnedNode: Sendable {
    var path: String
    /// The path as a C string, made once: each claim stats and opens it.
    let cPath: [CChar]
    /// S_IFBLK or S_IFCHR.
    var type: mode_t
    var device: UInt64

    /// Nil when `path` is no device node.
    init?(path: String) {
        guard let status = FileStatus(path: path), status.isBlockDevice || status.isCharacterDevice else { return nil }
        self.path = path
        cPath = Array(path.utf8CString)
        type = status.type
        device = status.deviceNumber
    }

    func isReached(by status: FileStatus) -> Bool {
        status.type == type && status.deviceNumber == device
    }
}

/// A real drive: any block device node (an optical drive, or a loop device
/// standing in for one), with its SCSI generic node where it has one.
public final class BlockDrive: Drive {
    public let node: String
    /// The device the node reached when the recorder was made. Nil when the
    /// node was no block device.
    public let device: UInt64?
    /// The SCSI generic node claimed with the block node, if any.
    public let genericNode: String?
    private let pinned: PinnedNode?
    private let pinnedGeneric: PinnedNode?
    /// SYSFS/dev/block/MAJOR:MINOR.
    private let sysfsDirectory: String?
    private let polling: MediaPolling?
    /// SYSFS/dev/block/MAJOR:MINOR/uevent, unless --no-quiet.
    private let uevent: String?
    /// `uevent`, open once the first re-probe wrote to it.
    private let ueventDescriptor = Mutex<Int32?>(nil)
    private let logger: Logger
    /// The descriptors that carry the claim: their flocks, and O_EXCL when
    /// exclusive.
    private let claimDescriptors = Mutex<Claim?>(nil)

    /// The block node's descriptor, then the generic node's: two fields, not
    /// an array (a claim made and let go a thousand times a second would
    /// allocate one each time).
    private struct Claim {
        var block: FileDescriptor
        var generic: FileDescriptor?

        /// The reverse of the claim: the generic node first.
        func close() {
            if let generic { rfs_close(generic.rawValue) }
            rfs_close(block.rawValue)
        }
    }
    /// Whom the claim under way waits for, once it has waited a moment.
    private let waiting = Mutex<String?>(nil)

    public init(node: String, settings: DriveSettings = DriveSettings(), logger: Logger = Logger(label: "recorderfs")) {
        self.node = node
        self.logger = logger
        pinned = PinnedNode(path: node).flatMap { $0.type == S_IFBLK ? $0 : nil }
        device = pinned?.device
        // The node udev names is claimed only where it exists (a container
        // may be given the block node alone); a node given is always claimed.
        let generic = settings.genericNode ?? pinned.flatMap { _ in Udev()?.blockDevice(node: node)?.genericNode }
            .flatMap { PinnedNode(path: $0) == nil ? nil : $0 }
        genericNode = generic
        pinnedGeneric = generic.flatMap(PinnedNode.init(path:))
        sysfsDirectory = device.map { "\(settings.sysfs)/dev/block/\(Self.numbers($0))" }
        polling = settings.quiet ? sysfsDirectory.map { MediaPolling(directory: $0, records: settings.pollingRecords) } : nil
        uevent = settings.quiet ? sysfsDirectory.map { "\($0)/uevent" } : nil
    }

    deinit {
        if let descriptor = ueventDescriptor.withLock({ $0 }) { close(descriptor) }
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
        // Counted from the first refusal: the usual probe reads no clock.
        var patience: MonotonicInstant?
        while true {
            do {
                let descriptor = try open(node, pinned, exclusive: true)
                rfs_close(descriptor.rawValue)
                return
            } catch .busy(let why) {
                let now = MonotonicInstant.now
                let limit = patience ?? now.advanced(byNanoseconds: Self.transientHolderNanoseconds)
                patience = limit
                guard now < limit, (try? mountPoints())?.isEmpty == true else { throw .busy(why) }
                var pause = timespec(tv_sec: 0, tv_nsec: 5_000_000)
                nanosleep(&pause, nil)
            }
        }
    }

    /// Claims the block node, then the generic node; a claim that gets the
    /// first but not the second lets the first go and fails as a whole.
    /// Once claimed, media polling is paused.
    public func claim(exclusive: Bool, deadline: MonotonicInstant) throws(DriveError) {
        defer { waiting.withLock { $0 = nil } }
        var descriptors = Claim(block: try claim(node, pinned, exclusive: exclusive, deadline: deadline))
        if let genericNode {
            // Whom the claim waits for is now the generic node's holder, if anyone.
            waiting.withLock { $0 = nil }
            do {
                descriptors.generic = try claim(genericNode, pinnedGeneric, exclusive: exclusive, deadline: deadline)
            } catch {
                try? descriptors.block.close()
                throw error.about("the SCSI generic node \(genericNode)")
            }
        }
        let previous = claimDescriptors.withLock { held in
            defer { held = descriptors }
            return held
        }
        previous?.close()
        switch polling?.pause() {
        case .paused(let interval):
            logger.info("media polling paused", metadata: ["events_poll_msecs": "\(interval)"])
        case .failed(let why):
            logger.warning("media polling not paused", metadata: ["reason": "\(why)"])
        case .pausedElsewhere:
            logger.info("media polling kept paused by another daemon")
        case .nothingToPause, nil:
            break
        }
    }

    /// Takes the claim of one node: its flock, retried while others hold it
    /// shared (udev does while it processes an event) until `deadline`.
    private func claim(_ path: String, _ pinned: PinnedNode?, exclusive: Bool,
                       deadline: MonotonicInstant) throws(DriveError) -> FileDescriptor {
        let descriptor = try open(path, pinned, exclusive: exclusive)
        // An exclusive flock held outside recorderfs is a refusal, once a
        // transient holder has had this long (from the first refusal) to
        // let go.
        var patience: MonotonicInstant?
        var pause: Int64 = 1_000_000
        while flock(descriptor.rawValue, LOCK_EX | LOCK_NB) != 0 {
            let error = errno
            guard error == EWOULDBLOCK || error == EINTR else {
                try? descriptor.close()
                throw Self.failure("flock", errno: error)
            }
            let now = MonotonicInstant.now
            let limit = patience ?? now.advanced(byNanoseconds: Self.transientHolderNanoseconds)
            patience = limit
            if now >= limit {
                if let holder = FlockHolder.exclusive(of: descriptor.rawValue) {
                    try? descriptor.close()
                    throw .busy("held outside recorderfs by \(holder)")
                }
                noteWait(path, descriptor)
            }
            guard now < deadline else {
                try? descriptor.close()
                throw .timedOut
            }
            var spec = timespec(tv_sec: 0, tv_nsec: Int(min(pause, deadline.nanoseconds - now.nanoseconds)))
            nanosleep(&spec, nil)
            pause = min(pause * 2, 50_000_000)
        }
        return descriptor
    }

    /// Names, once per claim, the program whose shared flock the claim
    /// waits for (from /proc/locks), in the log and in `claimWaitsFor`.
    private func noteWait(_ path: String, _ descriptor: FileDescriptor) {
        guard waiting.withLock({ $0 == nil }) else { return }
        let holder = FlockHolder.any(of: descriptor.rawValue)
        let text = holder.map { "flock held by \($0)" } ?? "flock held"
        waiting.withLock { $0 = text }
        logger.notice("the claim waits", metadata: ["node": "\(path)", "for": "\(text)"])
    }

    public var claimWaitsFor: String? { waiting.withLock { $0 } }

    /// How long a claim lets an exclusive holder (udev's probe, a short
    /// `flock`) go before it refuses: 100 ms.
    public static let transientHolderNanoseconds: Int64 = 100_000_000

    /// Media polling resumes, then the generic node is let go, then the
    /// block node: the reverse of the claim (so no next claim can find the
    /// drive free and still paused by this one).
    public func unclaim() {
        let descriptors = claimDescriptors.withLock { held in
            defer { held = nil }
            return held
        }
        polling?.resume()
        descriptors?.close()
    }

    /// Writes `change` to the block device's `uevent`: the kernel sends a
    /// change event, and udev and udisks look at the medium again (what
    /// Windows' simulated media arrival does after an unlock).
    public func reprobe() {
        guard let uevent else { return }
        // The attribute stays open: its path leads through a symlink of
        // sysfs, and the walk cost more than the write.
        let written = ueventDescriptor.withLock { held -> Int in
            for attempt in 0..<2 {
                if held == nil || attempt == 1 {
                    if let old = held { close(old) }
                    // A regular file, not through a symlink: nothing else is ever written.
                    held = try? openRegularFile(uevent, O_WRONLY)
                }
                guard let descriptor = held else { return -1 }
                if "change".withCString({ rfs_pwrite(descriptor, $0, 6, 0) }) == 6 { return 6 }
            }
            return -1
        }
        if written != 6 {
            logger.debug("no change event", metadata: ["reason": "\(String(cString: strerror(errno)))"])
        }
    }

    /// Whether media polling is paused now.
    public var isMediaPollingPaused: Bool { polling?.isPaused ?? false }

    public func eject() throws(DriveError) {
        try trayCommand(RFS_CDROMEJECT, "eject")
    }

    public func closeTray() throws(DriveError) {
        try trayCommand(RFS_CDROMCLOSETRAY, "close the tray")
    }

    /// A device that is not a CD drive answers ENOTTY (or EINVAL).
    private func trayCommand(_ request: UInt, _ what: String) throws(DriveError) {
        let descriptor = try open(node, pinned, exclusive: false)
        defer { try? descriptor.close() }
        guard ioctl(descriptor.rawValue, request) == 0 else {
            let code = errno
            if code == ENOTTY || code == EINVAL || code == ENOSYS { throw .unsupported }
            throw Self.failure(what, errno: code)
        }
    }

    public func describe() -> DriveDescription {
        var description = Udev()?.blockDevice(node: node).map(DriveDescription.init) ?? DriveDescription()
        if let genericNode { description.genericNode = genericNode }
        return description
    }

    /// Opens a node, and checks that it still reaches its device.
    private func open(_ path: String, _ pinned: PinnedNode?, exclusive: Bool) throws(DriveError) -> FileDescriptor {
        guard let pinned else { throw .replaced("\(path) is not a device node") }
        var replaced: DriveError { .replaced("\(path) no longer leads to the recorder's device \(Self.numbers(pinned.device))") }
        // Checked before the open too: even an O_EXCL open that fails at
        // once is nothing to do to another device, and a plain open is not
        // nothing either (an optical drive wakes and is asked for its
        // medium; a character device may act on being opened).
        let flags = O_RDONLY | O_NONBLOCK | O_CLOEXEC | (exclusive ? O_EXCL : 0)
        let descriptor = pinned.cPath.withUnsafeBufferPointer { cPath -> Int32 in
            if let status = FileStatus(cPath: cPath.baseAddress!), !pinned.isReached(by: status) { return -2 }
            return retryingEINTR { rfs_open(cPath.baseAddress!, flags) }
        }
        if descriptor == -2 { throw replaced }
        guard descriptor >= 0 else {
            let code = errno
            if exclusive && code == EBUSY {
                throw .busy("another program holds the drive exclusively")
            }
            throw Self.failure("open", errno: code)
        }
        guard let status = FileStatus(descriptor: descriptor), pinned.isReached(by: status) else {
            rfs_close(descriptor)
            throw replaced
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

extension DriveError {
    /// The error, its text prefixed with what it is about.
    func about(_ what: String) -> DriveError {
        switch self {
        case .busy(let why): .busy("\(what): \(why)")
        case .replaced(let why): .replaced("\(what): \(why)")
        case .failed(let why, let code): .failed("\(what): \(why)", errno: code)
        case .timedOut, .gone, .unsupported: self
        }
    }
}
