import Synchronization

/// A write to `acquire_wait` waiting its turn (see `Recorder.acquireWaiting`).
public final class LockWaiter: Sendable {
    let handle: UInt64
    let name: ClientName
    let caller: Caller
    let force: Bool
    private let completion: @Sendable (RecorderError?) -> Void
    private let completed = Atomic<Bool>(false)

    init(handle: UInt64, name: ClientName, caller: Caller, force: Bool,
         completion: @escaping @Sendable (RecorderError?) -> Void) {
        self.handle = handle
        self.name = name
        self.caller = caller
        self.force = force
        self.completion = completion
    }

    /// Tells the waiter its outcome, once: nil when it holds the lock.
    func complete(_ outcome: RecorderError?) {
        if !completed.exchange(true, ordering: .acquiringAndReleasing) { completion(outcome) }
    }
}
