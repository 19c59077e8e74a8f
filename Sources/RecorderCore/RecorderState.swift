#if canImport(Glibc)
import Glibc
#endif
import Logging
import Synchronization

/// How a recorder claims its drive and how long it waits.
public struct RecorderOptions: Sendable {
    /// Keep an O_EXCL descriptor while locked (`mount --exclusive`).
    public var exclusive: Bool
    /// The deadline of a call into the drive.
    public var timeout: Duration
    /// What the serving thread does before it blocks.
    public var hooks: BlockingHooks

    public init(exclusive: Bool = false, timeout: Duration = .seconds(5), hooks: BlockingHooks = .none) {
        self.exclusive = exclusive
        self.timeout = timeout
        self.hooks = hooks
    }

    /// The timeout in nanoseconds, for the deadlines of the hot path.
    var timeoutNanoseconds: Int64 { timeout.nanoseconds }
}

/// Who holds a recorder: the client name and the uid that took the first lock.
public struct Holder: Equatable, Sendable {
    public var name: ClientName
    public var uid: UInt32
}

/// What `owner`, `lockcount` and `generation` show.
public struct RecorderSnapshot: Equatable, Sendable {
    public var holder: Holder?
    public var lockCount: Int
    /// The fencing token: the recorder's generation base plus how many
    /// times it went from free to locked since it was made.
    public var generation: UInt64 = 0
}

/// One handle that holds locks, as `holders` shows it.
public struct HandleRecord: Equatable, Sendable {
    public var name: ClientName
    /// The process that took the handle's first lock.
    public var pid: Int32
    public var uid: UInt32
    public var count: Int
    /// When the handle took its first lock (CLOCK_REALTIME, seconds).
    public var since: Int
}
