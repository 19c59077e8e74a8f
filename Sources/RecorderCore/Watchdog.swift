#if canImport(Glibc)
import Glibc
#endif
import Synchronization

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
        /// The calls in a drive now, at most a few (one per drive): a short
        /// array, cheaper to add to and take from than a dictionary.
        var watches: [(id: UInt64, watch: Watch)] = []
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
            state.watches.append((state.nextID, Watch(deadline: deadline, overrun: overrun, answer: answer)))
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
        state.withLock { state in
            guard let index = state.watches.firstIndex(where: { $0.id == id }) else { return }
            state.watches.swapAt(index, state.watches.count - 1)
            state.watches.removeLast()
        }
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
                    let expired = locked.state.watches.filter { $0.watch.deadline <= now }
                    if !expired.isEmpty {
                        locked.update { state in state.watches.removeAll { $0.watch.deadline <= now } }
                        return expired.map(\.watch)
                    }
                    let wake: MonotonicInstant? = locked.update { state in
                        if let earliest = state.watches.lazy.map(\.watch.deadline).min() {
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
