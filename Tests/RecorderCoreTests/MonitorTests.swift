#if canImport(Glibc)
import Glibc
#endif
import Testing
@testable import RecorderCore

/// The monitor every recorder's table, drive calls and watchdog use: a futex
/// mutex and condition (CLinux's `rfs_monitor`).
@Suite("The monitor: mutual exclusion, broadcasts, deadlines")
struct MonitorTests {
    /// Runs `body` on `count` new threads and waits for them all.
    private func threads(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) {
        final class Job: @unchecked Sendable {
            let body: (Int) -> Void
            let index: Int
            init(_ body: @escaping (Int) -> Void, _ index: Int) { self.body = body; self.index = index }
        }
        var ids: [pthread_t] = []
        for index in 0..<count {
            var thread = pthread_t()
            let job = Unmanaged.passRetained(Job(body, index)).toOpaque()
            let rc = pthread_create(&thread, nil, { argument in
                let job = Unmanaged<Job>.fromOpaque(argument!).takeRetainedValue()
                job.body(job.index)
                return nil
            }, job)
            precondition(rc == 0)
            ids.append(thread)
        }
        for thread in ids { pthread_join(thread, nil) }
    }

    @Test("four threads adding a million times under the lock lose no addition")
    func exclusion() {
        // A plain read, add and write, which only the lock makes whole.
        let monitor = Monitor((count: 0, inside: 0, overlaps: 0))
        threads(4) { _ in
            for _ in 0..<250_000 {
                monitor.withLock { state in
                    state.inside += 1
                    if state.inside != 1 { state.overlaps += 1 }
                    state.count += 1
                    state.inside -= 1
                }
            }
        }
        let state = monitor.withLock { $0 }
        #expect(state.count == 1_000_000)
        #expect(state.overlaps == 0)
    }

    /// A waiter that counts itself in under the lock, then waits until `go`
    /// (or 60 s); the test takes the lock once the waiter is counted, so the
    /// waiter is then inside `wait` (which let go of the lock).
    private struct Waiting {
        var waiting = 0
        var go = false
        var woken = 0
        var timedOut = 0
    }

    private func waiters(_ count: Int, on monitor: Monitor<Waiting>, announce: @escaping @Sendable () -> Void) {
        let started = MonotonicInstant.now
        threads(count + 1) { index in
            if index < count {
                monitor.withWaitableLock { locked in
                    locked.state.waiting += 1
                    let deadline = MonotonicInstant.now.advanced(by: .seconds(60))
                    while !locked.state.go {
                        if !locked.wait(until: deadline) {
                            locked.state.timedOut += 1
                            return
                        }
                    }
                    locked.state.woken += 1
                }
            } else {
                while monitor.withLock({ $0.waiting }) < count { sched_yield() }
                announce()
            }
        }
        let state = monitor.withLock { $0 }
        #expect(state.woken == count)
        #expect(state.timedOut == 0)
        #expect(MonotonicInstant.now.nanoseconds - started.nanoseconds < 30_000_000_000)
    }

    @Test("a broadcast under the lock wakes every waiter")
    func broadcastUnderTheLock() {
        let monitor = Monitor(Waiting())
        waiters(5, on: monitor) {
            monitor.withLock { state in
                state.go = true
                monitor.broadcast()
            }
        }
    }

    @Test("a broadcast after the lock was let go wakes every waiter")
    func broadcastAfterTheLock() {
        let monitor = Monitor(Waiting())
        waiters(3, on: monitor) {
            monitor.withLock { $0.go = true }
            monitor.broadcast()
        }
    }

    @Test("a wait ends at its deadline, and at once when it has passed")
    func deadlines() {
        let monitor = Monitor(0)
        let started = MonotonicInstant.now
        let woken = monitor.withWaitableLock { locked in locked.wait(until: started.advanced(by: .milliseconds(50))) }
        let waited = MonotonicInstant.now.nanoseconds - started.nanoseconds
        #expect(!woken)
        #expect(waited >= 50_000_000)
        let past = monitor.withWaitableLock { locked in locked.wait(until: started) }
        #expect(!past)
        // The lock is free again after both waits.
        monitor.withLock { $0 += 1 }
        #expect(monitor.withLock { $0 } == 1)
    }

    @Test("waits and locks of many threads at once: every wait ends, no change is lost")
    func waitersAndLockers() {
        let monitor = Monitor((count: 0, round: 0, done: 0))
        threads(6) { index in
            if index < 3 {
                // Waits 2,000 times for the round to move on (or 5 ms).
                for _ in 0..<2_000 {
                    monitor.withWaitableLock { locked in
                        let round = locked.state.round
                        let deadline = MonotonicInstant.now.advanced(by: .milliseconds(5))
                        while locked.state.round == round, locked.wait(until: deadline) {}
                        locked.state.count += 1
                    }
                }
                monitor.withLock { $0.done += 1 }
            } else {
                while monitor.withLock({ state -> Bool in
                    state.round += 1
                    return state.done < 3
                }) {
                    monitor.broadcast()
                }
            }
        }
        let state = monitor.withLock { $0 }
        #expect(state.count == 6_000)
        #expect(state.done == 3)
    }
}
