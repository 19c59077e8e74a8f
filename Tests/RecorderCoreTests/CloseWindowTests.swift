import Testing
@testable import RecorderCore

/// DESIGN §3: after close(2) of a holding handle returns, the very next
/// operation sees the lock gone, although FUSE RELEASE comes later than FLUSH.
/// A flushed handle is "possibly closing": whoever would observe its lock
/// first waits, bounded by `closeWindow`, for its RELEASE.
@Suite("Close window")
struct CloseWindowTests {
    typealias F = Fixture

    /// `echo A > acquire; echo B > acquire`, again and again: the RELEASE of
    /// each writer arrives on another worker a few ms after its FLUSH, while
    /// the next writer already asks for the lock.
    @Test func theNextAcquireWaitsForTheReleaseOfAClosingHandle() throws {
        let closeWindow = Duration.seconds(3)
        let (recorder, drive) = F.recorder(closeWindow: closeWindow)
        let rounds = 12
        var releases: [Spawned<Void>] = []

        for round in 0..<rounds {
            let (name, caller) = round.isMultiple(of: 2) ? (F.appA, F.alice) : (F.appB, F.bob)
            let handle = recorder.makeHandle()
            let start = MonotonicInstant.now
            let outcome = spawnAcquire(handle, name, caller).join()
            #expect(throws: Never.self, "round \(round)") { try outcome?.get() }
            // Woken by the RELEASE, not by the end of the window.
            #expect(elapsed(since: start) < closeWindow, "round \(round)")

            // close(2): FLUSH now, RELEASE later on another worker.
            handle.flushed()
            releases.append(Spawned {
                pause(.milliseconds(5))
                handle.closed()
            })
        }
        for release in releases { _ = release.join() }

        #expect(recorder.state() == free)
        #expect(drive.claims == rounds)
        #expect(drive.unclaims == rounds)
        #expect(drive.violations.isEmpty)
    }

    /// `echo A > acquire; cat owner`: the read sees the recorder free.
    @Test func aReadAfterCloseSeesTheLockGone() throws {
        let (recorder, drive) = F.recorder(closeWindow: .seconds(3))
        let handle = recorder.makeHandle()
        try handle.acquire(F.appA, caller: F.alice, force: false)
        handle.flushed()
        let release = Spawned {
            pause(.milliseconds(5))
            handle.closed()
        }

        #expect(recorder.state() == free)
        _ = release.join()
        #expect(drive.unclaims == 1)
    }

    /// `echo A > acquire; echo A > release`: the lock went with the close.
    @Test func aReleaseAfterCloseFindsNoLock() throws {
        let (recorder, drive) = F.recorder(closeWindow: .seconds(3))
        let handle = recorder.makeHandle()
        try handle.acquire(F.appA, caller: F.alice, force: false)
        handle.flushed()
        let release = Spawned {
            pause(.milliseconds(5))
            handle.closed()
        }

        expectFailure(.noLock) { () throws(RecorderError) in try recorder.release(F.appA, caller: F.alice) }
        _ = release.join()
        #expect(recorder.state() == free)
        #expect(drive.unclaims == 1)
    }

    /// A duplicate descriptor was closed, not the last one: no RELEASE comes.
    /// The other writer is refused after the window, and nobody waits for
    /// that handle a second time.
    @Test func aFlushedHandleThatStaysOpenKeepsItsLock() throws {
        let closeWindow = Duration.milliseconds(300)
        let (recorder, drive) = F.recorder(closeWindow: closeWindow)
        let handle = recorder.makeHandle()
        try handle.acquire(F.appA, caller: F.alice, force: false)
        handle.flushed()

        var start = MonotonicInstant.now
        let first = spawnAcquire(recorder.makeHandle(), F.appB, F.bob).join()
        let firstWait = elapsed(since: start)
        #expect(first?.kind == .busy)
        #expect(firstWait >= closeWindow)
        #expect(firstWait < closeWindow + .seconds(3))

        start = MonotonicInstant.now
        let second = spawnAcquire(recorder.makeHandle(), F.appB, F.bob).join()
        #expect(second?.kind == .busy)
        #expect(elapsed(since: start) < closeWindow / 2)
        #expect(recorder.state() == held(by: F.appA, F.alice, count: 1))

        // Its last descriptor closes at last: the lock goes.
        handle.closed()
        #expect(recorder.state() == free)
        #expect(drive.unclaims == 1)
    }

    /// A write through a flushed handle proves it open: nobody waits for it.
    @Test func aWriteThroughAFlushedHandleUnflushesIt() throws {
        let closeWindow = Duration.seconds(2)
        let (recorder, drive) = F.recorder(closeWindow: closeWindow)
        let handle = recorder.makeHandle()
        try handle.acquire(F.appA, caller: F.alice, force: false)
        handle.flushed()

        var start = MonotonicInstant.now
        try handle.acquire(F.appA, caller: F.alice, force: false)
        #expect(elapsed(since: start) < closeWindow / 2)

        start = MonotonicInstant.now
        expectFailure(.busy) { () throws(RecorderError) in
            try recorder.makeHandle().acquire(F.appB, caller: F.bob, force: false)
        }
        #expect(elapsed(since: start) < closeWindow / 2)
        #expect(recorder.state() == held(by: F.appA, F.alice, count: 2))
        #expect(drive.claims == 1)
    }

    /// A handle without locks has nothing to drop: its FLUSH delays nobody.
    @Test func aFlushedHandleWithoutLocksDelaysNobody() throws {
        let closeWindow = Duration.seconds(2)
        let (recorder, _) = F.recorder(closeWindow: closeWindow)
        let holder = recorder.makeHandle()
        try holder.acquire(F.appA, caller: F.alice, force: false)
        let idle = recorder.makeHandle()
        idle.flushed()

        let start = MonotonicInstant.now
        expectFailure(.busy) { () throws(RecorderError) in
            try recorder.makeHandle().acquire(F.appB, caller: F.bob, force: false)
        }
        #expect(recorder.state() == held(by: F.appA, F.alice, count: 1))
        #expect(elapsed(since: start) < closeWindow / 2)
    }

    /// Flushing twice counts once: one RELEASE ends the wait.
    @Test func aHandleFlushedTwiceIsWaitedForOnce() throws {
        let closeWindow = Duration.seconds(3)
        let (recorder, _) = F.recorder(closeWindow: closeWindow)
        let handle = recorder.makeHandle()
        try handle.acquire(F.appA, caller: F.alice, force: false)
        handle.flushed()
        handle.flushed()
        let release = Spawned {
            pause(.milliseconds(5))
            handle.closed()
        }

        let start = MonotonicInstant.now
        try recorder.makeHandle().acquire(F.appB, caller: F.bob, force: false)
        #expect(elapsed(since: start) < closeWindow)
        _ = release.join()
        #expect(recorder.state() == held(by: F.appB, F.bob, count: 1))
    }

    /// Two holding handles closing at once (a process with two descriptors
    /// exits): the waiter wakes once both RELEASEs have come.
    @Test func theWaitCoversEveryClosingHandle() throws {
        let closeWindow = Duration.seconds(3)
        let (recorder, drive) = F.recorder(closeWindow: closeWindow)
        let a = recorder.makeHandle()
        let b = recorder.makeHandle()
        try a.acquire(F.appA, caller: F.alice, force: false)
        try b.acquire(F.appA, caller: F.alice, force: false)
        a.flushed()
        b.flushed()
        let releases = [a, b].enumerated().map { index, handle in
            Spawned {
                pause(.milliseconds(5 + 10 * index))
                handle.closed()
            }
        }

        let start = MonotonicInstant.now
        try recorder.makeHandle().acquire(F.appB, caller: F.bob, force: false)
        #expect(elapsed(since: start) < closeWindow)
        for release in releases { _ = release.join() }
        #expect(recorder.state() == held(by: F.appB, F.bob, count: 1))
        #expect(drive.claims == 2)
        #expect(drive.unclaims == 1)
    }

    /// Every closing handle gets its own window. A duplicate of D was closed
    /// (D is flushed but stays open) and a reader waits out D's window. Just
    /// before that window ends, Y, another holding handle, is closed: FLUSH now,
    /// RELEASE a little after D's window ends but well within Y's own. The
    /// read that follows the first one (Y's close(2) has long returned) must
    /// not see Y's lock.
    @Test func aHandleFlushedDuringAnotherWaitKeepsItsOwnWindow() throws {
        let closeWindow = Duration.milliseconds(400)
        let (recorder, _) = F.recorder(closeWindow: closeWindow)
        let d = recorder.makeHandle()
        let y = recorder.makeHandle()
        try d.acquire(F.appA, caller: F.alice, force: false)
        try y.acquire(F.appA, caller: F.alice, force: false)

        d.flushed()
        let started = Gate()
        let reader = Spawned { () -> RecorderSnapshot? in
            started.open()
            return try? recorder.snapshot().withoutGeneration
        }
        started.pass()
        pause(closeWindow / 2)

        y.flushed()
        // The reader's wait began before Y's FLUSH and is not over.
        try #require(!reader.isFinished)
        let release = Spawned {
            // D's window ends about closeWindow / 2 from now, Y's about closeWindow.
            pause(closeWindow * 0.65)
            y.closed()
        }

        let first = reader.join()
        // Concurrent with Y's close: either state is right.
        #expect(first == .some(.some(held(by: F.appA, F.alice, count: 2)))
            || first == .some(.some(held(by: F.appA, F.alice, count: 1))))
        #expect(recorder.state() == held(by: F.appA, F.alice, count: 1))
        _ = release.join()
        #expect(recorder.state() == held(by: F.appA, F.alice, count: 1))
    }
}

extension Result where Failure == RecorderError {
    var kind: RecorderError.Kind? {
        if case .failure(let error) = self { error.kind } else { nil }
    }
}
