#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// Runs the calls into one drive one at a time, each on the thread that
/// makes it, under a deadline.
///
/// A drive can hang (spinning up, a bad disc). A call runs on the caller's
/// own thread, so the usual call, a few microseconds in the kernel, costs no
/// hand-off to another thread and back; if it lasts more than a moment, the
/// request loop has another worker take requests (`BlockingHooks`). If it is still in the
/// drive at its deadline, the `Watchdog` fires the caller's `Overrun`, which
/// answers the client (ETIMEDOUT, or what the call promises); when the drive
/// returns at last, the call's `late` handler undoes what it left behind.
/// While a call is past its deadline, new calls fail at once instead of
/// piling up behind it: a hung drive holds one thread, and no client past
/// its deadline.
final class DriveCalls: Sendable {
    /// The deadline of the call in the drive now.
    private let running = Monitor<MonotonicInstant?>(nil)
    private let hooks: BlockingHooks

    init(hooks: BlockingHooks) {
        self.hooks = hooks
    }

    /// Runs `body` on this thread once no other call is in the drive.
    ///
    /// Returns nil when the call ended past its deadline (or after its
    /// `overrun` fired): `late` got its result. With `failFast`, a call
    /// behind one that is past its deadline, or that cannot start before its
    /// own, fails with `.timedOut` and never runs; without, it waits for the
    /// drive as long as it takes (closing a claim must happen). The watchdog
    /// answers `overrun` with `answer` at the deadline, if that comes first.
    func call<T>(deadline: MonotonicInstant, failFast: Bool = true, overrun: Overrun?, answer: RecorderError? = .timedOut,
                 _ body: () throws(DriveError) -> T, late: (Result<T, DriveError>) -> Void) -> Result<T, DriveError>? {
        let watch = overrun.map { Watchdog.shared.watch($0, until: deadline, answer: answer) }
        defer { if let watch { Watchdog.shared.unwatch(watch) } }
        let admitted = running.withWaitableLock { locked -> Bool in
            while let other = locked.state {
                if failFast {
                    let now = MonotonicInstant.now
                    guard now < other, now < deadline else { return false }
                    _ = hooks.wait(locked, until: min(other, deadline))
                } else {
                    _ = hooks.wait(locked, until: .now.advanced(by: .seconds(60)))
                }
            }
            locked.state = deadline
            return true
        }
        guard admitted else { return .failure(.timedOut) }
        let result = Result<T, DriveError> { () throws(DriveError) -> T in try hooks.driveCall(body) }
        running.withLock { call in
            call = nil
            running.broadcast()
        }
        // Whoever settles first answers the client: this thread, or the watchdog.
        let onTime = overrun?.settle() ?? (MonotonicInstant.now < deadline)
        if onTime { return result }
        late(result)
        return nil
    }
}
