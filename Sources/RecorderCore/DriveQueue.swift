#if canImport(Glibc)
import Glibc
#endif

/// Runs the calls into one drive on a thread of their own, one at a time.
///
/// A drive can hang (spinning up, a bad disc). The caller waits for its call
/// only until its deadline and then gets ETIMEDOUT; the call goes on, and
/// what it leaves behind is undone by a `late` handler when it ends. While a
/// call is past its deadline, new calls fail at once instead of piling up
/// behind it, so a hung drive never holds more than one FUSE worker, and only
/// until its deadline.
final class DriveQueue: @unchecked Sendable {
    private struct Job {
        var deadline: MonotonicInstant
        var run: () -> Void
    }

    private struct State {
        var jobs: [Job] = []
        /// The deadline of the call running now.
        var running: MonotonicInstant?
        var started = false
        var stopped = false
    }

    /// Where a waiting caller finds the result; guarded by the queue's monitor.
    private final class Slot<T>: @unchecked Sendable {
        var result: Result<T, DriveError>?
        var abandoned = false
    }

    private let state = Monitor(State())

    /// Runs `body` on the drive's thread and waits for it until `deadline`.
    /// Returns nil when the deadline passed first: the call was abandoned,
    /// and `late` gets its result when it ends. With `failFast`, a call
    /// behind a hung one fails at once with `.timedOut` and never runs.
    func call<T>(deadline: MonotonicInstant, failFast: Bool = true, _ body: @escaping () throws(DriveError) -> T,
                 late: @escaping (Result<T, DriveError>) -> Void) -> Result<T, DriveError>? {
        let slot = Slot<T>()
        let job = Job(deadline: deadline) { [state] in
            let result = Result<T, DriveError> { () throws(DriveError) -> T in try body() }
            let abandoned = state.withLock { _ -> Bool in
                slot.result = result
                state.broadcast()
                return slot.abandoned
            }
            if abandoned { late(result) }
        }
        return state.withWaitableLock { locked -> Result<T, DriveError>? in
            if failFast, let running = locked.state.running, running < .now { return .failure(.timedOut) }
            locked.update { queue in enqueue(job, &queue) }
            while slot.result == nil {
                if !locked.wait(until: deadline) && slot.result == nil {
                    slot.abandoned = true
                    return nil
                }
            }
            return slot.result
        }
    }

    /// Runs `body` on the drive's thread without waiting for it.
    func post(deadline: MonotonicInstant, _ body: @escaping () -> Void) {
        state.withLock { queue in enqueue(Job(deadline: deadline, run: body), &queue) }
    }

    /// Lets the thread end once its queue is empty; a call that hangs keeps
    /// it until the call returns.
    func stop() {
        state.withLock { queue in
            queue.stopped = true
            state.broadcast()
        }
    }

    private func enqueue(_ job: Job, _ queue: inout State) {
        queue.jobs.append(job)
        if !queue.started {
            queue.started = true
            startThread()
        }
        state.broadcast()
    }

    private func startThread() {
        let unmanaged = Unmanaged.passRetained(self)
        var thread = pthread_t()
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
        let created = pthread_create(&thread, &attributes, { argument in
            Unmanaged<DriveQueue>.fromOpaque(argument!).takeRetainedValue().serve()
            return nil
        }, unmanaged.toOpaque())
        pthread_attr_destroy(&attributes)
        if created != 0 {
            unmanaged.release()
            // No thread now: the callers time out, and the next call tries again.
            state.withLock { queue in queue.started = false }
        }
    }

    private func serve() {
        while true {
            let job = state.withWaitableLock { locked -> Job? in
                locked.state.running = nil
                while locked.state.jobs.isEmpty {
                    if locked.state.stopped { return nil }
                    _ = locked.wait(until: .now.advanced(by: .seconds(3600)))
                }
                return locked.update { queue in
                    let job = queue.jobs.removeFirst()
                    queue.running = job.deadline
                    return job
                }
            }
            guard let job else { return }
            job.run()
        }
    }
}
