#if canImport(Glibc)
import Glibc
#endif
import CLinux

/// A mutex locked and unlocked in different scopes (`Recorder`'s event
/// order), which `Synchronization.Mutex` cannot be: CLinux's futex
/// `rfs_monitor`, without its condition.
final class OrderLock: @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<rfs_monitor>.allocate(capacity: 1)

    init() {
        mutex.initialize(to: rfs_monitor())
    }

    deinit {
        mutex.deallocate()
    }

    func lock() { rfs_monitor_lock(mutex) }
    func unlock() { rfs_monitor_unlock(mutex) }
}
