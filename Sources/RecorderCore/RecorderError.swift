/// Every way a call into the device core can fail. The FUSE adapter maps each
/// case to one errno (docs/design.md §5); nothing else in the core knows about errno.
public enum RecorderError: Error, Equatable, Sendable {
    /// The client name breaks the naming rules (E_INVALIDARG).
    case invalidName(String)
    /// Someone else has the recorder, a volume is mounted, or another program
    /// holds the drive exclusively (E_ACCESS_DENIED, E_IMAPI_RECORDER_LOCKED).
    case busy(String)
    /// `release` by a uid that is neither the holder's nor root.
    case notPermitted
    /// `release` of a name that holds no lock.
    case noLock
    /// The drive did not answer within the deadline.
    case timedOut
    /// The recorder went away.
    case noDevice
    /// An operation on a handle the core does not know.
    case badHandle
    /// An allocation failed.
    case outOfMemory
    /// Any other failure of the drive.
    case io(String)
    /// The device does not have this function (a tray command on a disk).
    case unsupported
    /// The caller's uid has as many open handles as it may (EMFILE).
    case tooManyHandles(Int)
    /// The caller's uid holds as many locks as it may (ENOLCK).
    case tooManyLocks(Int)
    /// A wait for the lock was interrupted (a signal to the writer).
    case interrupted
}

extension RecorderError: CustomStringConvertible {
    public var description: String {
        switch self {
        case .invalidName(let why): "invalid client name: \(why)"
        case .busy(let why): "busy: \(why)"
        case .notPermitted: "not permitted: the lock belongs to another user"
        case .noLock: "the name holds no lock"
        case .timedOut: "the drive did not answer within the deadline"
        case .noDevice: "the recorder went away"
        case .badHandle: "unknown handle"
        case .outOfMemory: "out of memory"
        case .io(let why): "drive failure: \(why)"
        case .unsupported: "the device does not support this"
        case .interrupted: "the wait was interrupted"
        case .tooManyHandles(let limit): "the user has \(limit) handles open, the most allowed"
        case .tooManyLocks(let limit): "the user holds \(limit) locks, the most allowed"
        }
    }
}
