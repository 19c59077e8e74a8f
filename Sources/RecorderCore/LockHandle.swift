#if canImport(Glibc)
import Glibc
#endif
import Logging
import Synchronization

/// One open file description of `acquire` or `acquire_force`: the owner of
/// the locks taken through it.
public final class LockHandle: Sendable {
    public let id: UInt64
    public let recorder: Recorder
    /// The uid that opened the handle, whose usage it counts in.
    public let uid: UInt32

    init(id: UInt64, recorder: Recorder, uid: UInt32) {
        self.id = id
        self.recorder = recorder
        self.uid = uid
    }

    public func acquire(_ name: ClientName, caller: Caller, force: Bool, overrun: Overrun? = nil) throws(RecorderError) {
        try recorder.acquire(name, handle: self, caller: caller, force: force, overrun: overrun)
    }

    /// Whether the handle holds at least one lock now: only then does its
    /// closing change what others see.
    public var holdsLocks: Bool { recorder.holdsLocks(id) }

    /// FUSE RELEASE: the last descriptor is gone.
    public func closed() { recorder.closed(id, uid: uid) }
}
