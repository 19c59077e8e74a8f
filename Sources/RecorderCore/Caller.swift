/// The process behind a request, as the kernel reports it.
public struct Caller: Sendable, Equatable {
    public var pid: Int32
    public var uid: UInt32
    public var gid: UInt32
    /// The kernel's FUSE lock owner: it identifies the file table (the
    /// process, or processes sharing descriptors) behind a write or a close.
    public var lockOwner: UInt64

    public init(pid: Int32, uid: UInt32, gid: UInt32, lockOwner: UInt64 = 0) {
        self.pid = pid
        self.uid = uid
        self.gid = gid
        self.lockOwner = lockOwner
    }

    public var isRoot: Bool { uid == 0 }
}
