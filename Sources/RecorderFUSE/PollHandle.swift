#if canImport(Glibc)
import Glibc
#endif
import CFuseShim
import RecorderCore
import Synchronization

/// A kernel poll handle (`struct fuse_pollhandle`), kept until the change it
/// waits for: then notified and destroyed, or destroyed unused.
struct PollHandle: @unchecked Sendable {
    let raw: OpaquePointer

    /// Wakes the poller (while the session lasts: `SessionGate`), and lets
    /// go of the handle.
    func notify() {
        SessionGate.whileOpen { _ = fuse_lowlevel_notify_poll(raw) }
        fuse_pollhandle_destroy(raw)
    }

    func destroy() {
        fuse_pollhandle_destroy(raw)
    }
}
