#if canImport(Glibc)
import Glibc
#endif
import CLinux

/// A value behind a mutex with a condition variable.
///
/// `Synchronization.Mutex` has no condition variable, and the lock rules need
/// to wait, bounded, for an event another FUSE worker delivers (a RELEASE, the
/// end of a drive transition). FUSE workers are plain threads calling in
/// synchronously, so a monitor is the right tool: CLinux's `rfs_monitor`, a
/// futex mutex and condition whose uncontended lock and unlock are inline
/// (a recorder's monitors are taken a dozen times a cycle, and
/// pthread_mutex_lock and _unlock cost some 55 instructions a pair).
public final class Monitor<State>: @unchecked Sendable {
    private let monitor = UnsafeMutablePointer<rfs_monitor>.allocate(capacity: 1)
    /// The state, in memory of its own rather than a stored `var`: every
    /// access is under the mutex, so the run-time exclusivity checks Swift
    /// makes on a class's stored `var` (a begin and an end per access, a
    /// dozen per lock operation) could only ever pass.
    private let state = UnsafeMutablePointer<State>.allocate(capacity: 1)

    public init(_ initial: State) {
        state.initialize(to: initial)
        monitor.initialize(to: rfs_monitor())
    }

    deinit {
        monitor.deallocate()
        state.deinitialize(count: 1)
        state.deallocate()
    }

    /// Runs `body` with the state locked.
    public func withLock<R, E: Error>(_ body: (inout State) throws(E) -> R) throws(E) -> R {
        rfs_monitor_lock(monitor)
        defer { rfs_monitor_unlock(monitor) }
        return try body(&state.pointee)
    }

    /// Runs `body` with the state locked; `body` may wait on the monitor.
    ///
    /// The state is reached through `Locked.state`, never as an inout
    /// parameter: another thread changes it while `body` waits, and the
    /// compiler may keep an inout parameter's fields in registers across the
    /// wait, as exclusive access allows it to.
    public func withWaitableLock<R, E: Error>(_ body: (Locked) throws(E) -> R) throws(E) -> R {
        rfs_monitor_lock(monitor)
        defer { rfs_monitor_unlock(monitor) }
        return try body(Locked(monitor: self))
    }

    /// Wakes every thread waiting on the monitor. Call after changing the
    /// state under the lock, with the lock held or after letting it go.
    public func broadcast() {
        rfs_monitor_broadcast(monitor)
    }

    /// The locked state, inside `withWaitableLock`.
    public struct Locked {
        fileprivate let monitor: Monitor

        /// The state now; read it again after every wait.
        public var state: State {
            // Borrowed, not copied: `locked.state.transition` reads one
            // field without a copy of the whole state (and its retains).
            _read { yield monitor.state.pointee }
            nonmutating _modify { yield &monitor.state.pointee }
        }

        /// Changes the state in one access, without waiting.
        public func update<R, E: Error>(_ body: (inout State) throws(E) -> R) throws(E) -> R {
            try body(&monitor.state.pointee)
        }

        /// Waits until a broadcast or `deadline`; returns false once the
        /// deadline has passed.
        public func wait(until deadline: MonotonicInstant) -> Bool {
            var spec = deadline.timespecValue
            return rfs_monitor_wait(monitor.monitor, &spec) != ETIMEDOUT
                && MonotonicInstant.now < deadline
        }
    }
}
