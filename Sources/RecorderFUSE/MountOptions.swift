#if canImport(Glibc)
import Glibc
#endif
import CFuseShim
import Logging
import RecorderCore
import RequestLoop

/// How the tree is mounted.
public struct MountOptions: Sendable {
    public var allowOther = false
    /// libfuse prints every request.
    public var debug = false
    /// Worker threads at most: an operation may wait (bounded) for a drive
    /// transition or an earlier RELEASE that another worker must finish.
    public var maxThreads: UInt32 = 64
    /// The deadline of a call into a drive: a later request waits for the
    /// RELEASE of a lock handle at most this long.
    public var driveTimeout: Duration

    public init(allowOther: Bool = false, debug: Bool = false, driveTimeout: Duration = .seconds(5)) {
        self.allowOther = allowOther
        self.debug = debug
        self.driveTimeout = driveTimeout
    }
}

public enum SessionError: Error, CustomStringConvertible {
    case cannotCreate
    /// libfuse3 cannot be loaded: why.
    case libraryMissing(String)
    /// The mountpoint, and what libfuse or fusermount3 said, if anything.
    case cannotMount(String, reason: String?)

    public var description: String {
        switch self {
        case .cannotCreate: "libfuse could not create a session"
        case .libraryMissing(let why): why
        case .cannotMount(let path, let reason?): "cannot mount on \(path): \(reason)"
        case .cannotMount(let path, nil): "cannot mount on \(path)"
        }
    }
}
