/// What can go wrong in a call into a drive.
public enum DriveError: Error, Equatable, Sendable {
    /// A volume is mounted, or another program holds the drive exclusively.
    case busy(String)
    /// The drive did not answer within the deadline.
    case timedOut
    /// The device node is gone.
    case gone
    /// The device node leads to another device than the recorder's now (a
    /// symlink re-pointed, a node replaced): nothing is done to it.
    case replaced(String)
    /// Any other failure, with the errno the kernel gave.
    case failed(String, errno: Int32)
    /// The device does not have this function (a tray command on a disk).
    case unsupported
}

/// What became of one mount of the drive at `acquire_force`.
public enum UnmountOutcome: Equatable, Sendable {
    /// The volume is unmounted.
    case unmounted
    /// The volume was busy and is detached lazily: it stays alive for the
    /// programs that use it, so the kernel may still refuse an exclusive open.
    case detachedLazily
}

/// Everything the core does to a drive. The real one is `BlockDrive`; the
/// unit tests substitute a fake to exercise every rule.
///
/// A claim is what keeps others off the drive while it is locked: the
/// advisory claim holds `flock(LOCK_EX)` on the device node; the exclusive
/// claim also holds an O_EXCL descriptor (docs/design.md §4).
public protocol Drive: AnyObject, Sendable {
    /// The device node, e.g. /dev/sr0.
    var node: String { get }

    /// The mount points of the drive's volumes in this mount namespace,
    /// deepest last.
    func mountPoints() throws(DriveError) -> [String]

    /// Unmounts one mount point; a busy one is detached lazily.
    func unmount(_ mountPoint: String) throws(DriveError) -> UnmountOutcome

    /// Checks that nobody else uses the drive: an O_EXCL open must succeed
    /// (a refusal that lasts less than a moment, a transient holder's, is
    /// no refusal).
    func probeExclusive() throws(DriveError)

    /// Takes the claim, retrying conflicts with short shared flocks until
    /// `deadline`; an exclusive flock held outside recorderfs for more than
    /// a moment is `.busy`, naming its holder.
    func claim(exclusive: Bool, deadline: MonotonicInstant) throws(DriveError)

    /// Drops the claim taken by `claim`. Never fails: it closes descriptors
    /// (and resumes what the claim paused).
    func unclaim()

    /// Has the system look at the medium again (a `change` uevent), after
    /// a release to free.
    func reprobe()

    /// Whom a claim under way waits for ("flock held by pid 1234
    /// (python3)"), once it has waited a moment; nil otherwise.
    var claimWaitsFor: String? { get }

    /// What the drive is, now (vendor, capabilities, medium…).
    func describe() -> DriveDescription

    /// Opens the tray (CDROMEJECT).
    func eject() throws(DriveError)

    /// Closes the tray (CDROMCLOSETRAY).
    func closeTray() throws(DriveError)
}

extension Drive {
    public func describe() -> DriveDescription { DriveDescription() }
    public func reprobe() {}
    public var claimWaitsFor: String? { nil }
    public func eject() throws(DriveError) { throw .unsupported }
    public func closeTray() throws(DriveError) { throw .unsupported }
}
