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

/// Answers for a caller whose operation is stuck in a drive past its deadline.
///
/// The FUSE layer makes one per request that may call into a drive; the
/// answer it wraps replies to that request. Exactly one answer is given:
/// either the owner settles (and answers itself), or the watchdog fires.
public final class Overrun: Sendable {
    private static let open: UInt8 = 0, settled: UInt8 = 1, fired: UInt8 = 2
    private let state = Atomic<UInt8>(Overrun.open)
    private let answer: @Sendable (RecorderError?) -> Void

    /// `answer` gets what the client is due at the deadline: nil for success.
    public init(_ answer: @escaping @Sendable (RecorderError?) -> Void) {
        self.answer = answer
    }

    /// Takes the right to answer for the owner; false when the watchdog has
    /// answered already. Asking again gives the same answer.
    public func settle() -> Bool {
        let (exchanged, original) = state.compareExchange(expected: Self.open, desired: Self.settled,
                                                          ordering: .acquiringAndReleasing)
        return exchanged || original == Self.settled
    }

    /// The watchdog's side: answers unless the owner settled first.
    func fire(_ outcome: RecorderError?) {
        if state.compareExchange(expected: Self.open, desired: Self.fired, ordering: .acquiringAndReleasing).exchanged {
            answer(outcome)
        }
    }
}

/// Fires the `Overrun` of each drive call still running at its deadline.
///
/// One thread for the whole process, started with the first call. A call
/// wakes it only when its deadline comes before the time it sleeps until
/// (or it sleeps with nothing to watch); while calls keep coming, it wakes
/// about once per deadline length.
final class Watchdog: Sendable {
    static let shared = Watchdog()

    private struct Watch {
        var deadline: MonotonicInstant
        var overrun: Overrun
        var answer: RecorderError?
    }

    private struct State {
        var watches: [UInt64: Watch] = [:]
        var nextID: UInt64 = 0
        var started = false
        /// When the thread wakes next; nil while it sleeps until woken.
        var wake: MonotonicInstant?
        /// A call came since the thread last went to sleep.
        var busy = false
        /// The longest time from a call to its deadline seen so far.
        var longest: Int64 = 0
    }

    private let state = Monitor(State())

    func watch(_ overrun: Overrun, until deadline: MonotonicInstant, answer: RecorderError?) -> UInt64 {
        state.withLock { state in
            state.nextID += 1
            state.watches[state.nextID] = Watch(deadline: deadline, overrun: overrun, answer: answer)
            state.longest = max(state.longest, deadline.nanoseconds - MonotonicInstant.now.nanoseconds)
            state.busy = true
            if !state.started {
                state.wake = deadline
                state.started = startThread()
            } else if state.wake.map({ deadline < $0 }) ?? true {
                state.wake = deadline
                self.state.broadcast()
            }
            return state.nextID
        }
    }

    func unwatch(_ id: UInt64) {
        state.withLock { state in _ = state.watches.removeValue(forKey: id) }
    }

    /// False when no thread could be made: the next call tries again, and
    /// until then calls take as long as the drive does.
    private func startThread() -> Bool {
        var thread = pthread_t()
        guard pthread_create(&thread, nil, { _ in
            Watchdog.shared.serve()
            return nil
        }, nil) == 0 else { return false }
        pthread_detach(thread)
        return true
    }

    private func serve() {
        while true {
            let due = state.withWaitableLock { locked -> [Watch] in
                while true {
                    let now = MonotonicInstant.now
                    let expired = locked.state.watches.filter { $0.value.deadline <= now }
                    if !expired.isEmpty {
                        locked.update { state in for id in expired.keys { state.watches[id] = nil } }
                        return Array(expired.values)
                    }
                    let wake: MonotonicInstant? = locked.update { state in
                        if let earliest = state.watches.values.map(\.deadline).min() {
                            state.wake = earliest
                        } else {
                            // Calls made while it slept have deadlines at most
                            // `longest` away: one more look then.
                            state.wake = state.busy ? now.advanced(byNanoseconds: state.longest) : nil
                        }
                        state.busy = false
                        return state.wake
                    }
                    _ = locked.wait(until: wake ?? now.advanced(by: .seconds(3600)))
                }
            }
            for watch in due { watch.overrun.fire(watch.answer) }
        }
    }
}
