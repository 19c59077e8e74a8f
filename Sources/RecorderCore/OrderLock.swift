#if canImport(Glibc)
import Glibc
#endif
import Logging
import Synchronization

/// A mutex locked and unlocked in different scopes (`Recorder`'s event
/// order), which `Synchronization.Mutex` cannot be.
final class OrderLock: @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)

    init() {
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    func lock() { pthread_mutex_lock(mutex) }
    func unlock() { pthread_mutex_unlock(mutex) }
}
