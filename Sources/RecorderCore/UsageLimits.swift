import Synchronization

/// How much of the daemon one user may take, so that no uid can exhaust it:
/// open handles of the tree's files (EMFILE past the limit) and locks
/// (ENOLCK past the limit), across all recorders. Root is not limited.
public final class UsageLimits: Sendable {
    public static let defaultHandlesPerUser = 1024
    public static let defaultLocksPerUser = 65_536

    public let handlesPerUser: Int
    public let locksPerUser: Int
    private let usage = Mutex<[UInt32: (handles: Int, locks: Int)]>([:])

    public init(handlesPerUser: Int = defaultHandlesPerUser, locksPerUser: Int = defaultLocksPerUser) {
        self.handlesPerUser = handlesPerUser
        self.locksPerUser = locksPerUser
    }

    public func openHandle(uid: UInt32) throws(RecorderError) {
        guard uid != 0 else { return }
        try usage.withLock { (usage) throws(RecorderError) in
            let current = usage[uid, default: (0, 0)]
            guard current.handles < handlesPerUser else { throw .tooManyHandles(handlesPerUser) }
            usage[uid] = (current.handles + 1, current.locks)
        }
    }

    public func closeHandle(uid: UInt32) {
        guard uid != 0 else { return }
        change(uid) { $0.handles -= 1 }
    }

    func addLock(uid: UInt32) throws(RecorderError) {
        guard uid != 0 else { return }
        try usage.withLock { (usage) throws(RecorderError) in
            let current = usage[uid, default: (0, 0)]
            guard current.locks < locksPerUser else { throw .tooManyLocks(locksPerUser) }
            usage[uid] = (current.handles, current.locks + 1)
        }
    }

    func dropLocks(uid: UInt32, count: Int) {
        guard uid != 0, count > 0 else { return }
        change(uid) { $0.locks -= count }
    }

    /// What `uid` holds now: open handles and locks.
    public func usage(of uid: UInt32) -> (handles: Int, locks: Int) {
        usage.withLock { $0[uid, default: (0, 0)] }
    }

    private func change(_ uid: UInt32, _ body: (inout (handles: Int, locks: Int)) -> Void) {
        usage.withLock { usage in
            var current = usage[uid, default: (0, 0)]
            body(&current)
            usage[uid] = current.handles == 0 && current.locks == 0 ? nil : current
        }
    }
}
