import Testing
import Synchronization
@testable import RecorderCore

/// docs/design.md §3: locks belong to handles; one handle, one holder (issue I): the
/// holding handle nests with its NAME, every other handle is refused; release
/// and the drive claim at 0 → 1 and 1 → 0.
@Suite("Lock rules")
struct LockRulesTests {
    typealias F = Fixture

    // MARK: Free → held

    @Test(arguments: [false, true])
    func acquiringAFreeRecorderProbesThenClaims(exclusive: Bool) throws {
        let (recorder, drive) = F.recorder(exclusive: exclusive)
        let handle = recorder.makeHandle()

        try handle.acquire(F.appA, caller: F.alice, force: false)

        #expect(drive.calls == [.probeExclusive, .claim(exclusive: exclusive)])
        #expect(drive.claimed)
        #expect(drive.current.exclusive == exclusive)
        #expect(recorder.state() == held(by: F.appA, F.alice, count: 1))
        #expect(drive.violations.isEmpty)
    }

    @Test func theClaimGetsTheDeadlineOfTheTimeout() throws {
        let (recorder, drive) = F.recorder(timeout: .seconds(3))
        let before = MonotonicInstant.now
        try recorder.makeHandle().acquire(F.appA, caller: F.alice, force: false)
        let after = MonotonicInstant.now

        let deadline = try #require(drive.current.claimDeadlines.first)
        #expect(before.advanced(by: .seconds(3)) <= deadline)
        #expect(deadline <= after.advanced(by: .seconds(3)))
    }

    // MARK: Nesting

    @Test func locksNestOnTheSameHandle() throws {
        let (recorder, drive) = F.recorder()
        let handle = recorder.makeHandle()

        try handle.acquire(F.appA, caller: F.alice, force: false)
        try handle.acquire(F.appA, caller: F.alice, force: false)
        try handle.acquire(F.appA, caller: F.aliceAgain, force: true)

        #expect(recorder.state() == held(by: F.appA, F.alice, count: 3))
        // Only the first lock touches the drive.
        #expect(drive.calls == [.probeExclusive, .claim(exclusive: false)])
        #expect(drive.claims == 1)
    }

    /// The nest decided from the bytes of a write (issue E2): only the
    /// holding handle with the holder's name, with or without its newline,
    /// as `acquire` would; anything else changes nothing and is left to
    /// `acquire`.
    @Test func nestIfHoldingNestsOnlyWhatAcquireWouldNest() throws {
        let (recorder, drive) = F.recorder()
        let handle = recorder.makeHandle()
        let other = recorder.makeHandle()
        func nest(_ text: String, _ through: LockHandle) -> Bool {
            Array(text.utf8).withUnsafeBytes { recorder.nestIfHolding(through, written: $0, caller: F.alice) }
        }

        #expect(!nest("AppA", handle))
        #expect(recorder.state() == RecorderSnapshot(holder: nil, lockCount: 0))
        #expect(drive.calls.isEmpty)

        try handle.acquire(F.appA, caller: F.alice, force: false)
        #expect(nest("AppA", handle))
        #expect(nest("AppA\n", handle))
        for refused in ["AppA\n\n", "AppB", "App", "AppAA", "", "\n"] {
            #expect(!nest(refused, handle), "\(refused.debugDescription)")
        }
        #expect(!nest("AppA", other))
        #expect(recorder.state() == held(by: F.appA, F.alice, count: 3))
        #expect(drive.claims == 1)
    }

    /// A nest is told to an observer exactly when it wants nests (through
    /// `acquire` and through `nestIfHolding` alike), and counted in
    /// `changes` either way.
    @Test(arguments: [false, true])
    func aNestIsToldOnlyToAnObserverThatWantsIt(_ wanted: Bool) throws {
        final class Listener: RecorderObserver, @unchecked Sendable {
            let wantsNests: Bool
            let kinds = Mutex<[RecorderEvent.Kind]>([])
            init(wantsNests: Bool) { self.wantsNests = wantsNests }
            func wants(_ kind: RecorderEvent.Kind) -> Bool { kind != .nest || wantsNests }
            func recorderChanged(_ event: RecorderEvent) { kinds.withLock { $0.append(event.kind) } }
        }
        let listener = Listener(wantsNests: wanted)
        let recorder = Recorder(name: "sr0", drive: FakeDrive(), observer: listener, logger: F.quiet)
        let handle = recorder.makeHandle()
        try handle.acquire(F.appA, caller: F.alice, force: false)
        let before = recorder.changes
        try handle.acquire(F.appA, caller: F.alice, force: false)
        #expect(Array("AppA\n".utf8).withUnsafeBytes { recorder.nestIfHolding(handle, written: $0, caller: F.alice) })
        #expect(recorder.changes == before + 2)
        #expect(recorder.state() == held(by: F.appA, F.alice, count: 3))
        let expected: [RecorderEvent.Kind] = wanted ? [.lock, .nest, .nest] : [.lock]
        #expect(listener.kinds.withLock { $0 } == expected)
    }

    /// Every change is counted before the observer is asked whether it wants
    /// its event: a poller that registers after the question still sees the
    /// change in the count (the nest's event is asked under the table's lock).
    @Test func aChangeIsCountedBeforeTheObserverIsAsked() throws {
        final class Listener: RecorderObserver, @unchecked Sendable {
            weak var recorder: Recorder?
            let asked = Mutex<[(RecorderEvent.Kind, UInt64)]>([])
            func wants(_ kind: RecorderEvent.Kind) -> Bool {
                let changes = recorder?.changes ?? 0
                asked.withLock { $0.append((kind, changes)) }
                return false
            }
            func recorderChanged(_ event: RecorderEvent) {}
        }
        let listener = Listener()
        let recorder = Recorder(name: "sr0", drive: FakeDrive(), observer: listener, logger: F.quiet)
        listener.recorder = recorder
        let handle = recorder.makeHandle()
        try handle.acquire(F.appA, caller: F.alice, force: false)
        let afterLock = recorder.changes
        try handle.acquire(F.appA, caller: F.alice, force: false)
        #expect(Array("AppA".utf8).withUnsafeBytes { recorder.nestIfHolding(handle, written: $0, caller: F.alice) })
        let nests = listener.asked.withLock { $0.filter { $0.0 == .nest }.map(\.1) }
        #expect(nests == [afterLock + 1, afterLock + 2])
    }

    /// One handle, one holder: another open file of the same name and uid is
    /// refused; another process nests only through the holder's handle (an
    /// inherited or passed descriptor).
    @Test func anotherHandleOfTheSameNameAndUidIsRefused() throws {
        let (recorder, drive) = F.recorder()
        let first = recorder.makeHandle()
        let second = recorder.makeHandle()

        try first.acquire(F.appA, caller: F.alice, force: false)
        // Another process of the same user, through its own open file.
        let error = expectFailure(.busy) { () throws(RecorderError) in
            try second.acquire(F.appA, caller: F.aliceAgain, force: false)
        }
        #expect(error == .busy("held by AppA (uid 1000)"))
        expectFailure(.busy) { () throws(RecorderError) in
            try second.acquire(F.appA, caller: F.alice, force: true)
        }
        #expect(recorder.state() == held(by: F.appA, F.alice, count: 1))
        #expect(!second.holdsLocks)

        // Another process of the same user, through the holder's handle (inherited).
        try first.acquire(F.appA, caller: F.aliceAgain, force: false)
        try first.acquire(F.appA, caller: F.aliceAgain, force: false)

        #expect(recorder.state() == held(by: F.appA, F.alice, count: 3))
        #expect(drive.claims == 1)
        #expect(drive.calls.count == 2)
    }

    @Test func anotherNameIsRefusedAndNothingChanges() throws {
        let (recorder, drive) = F.recorder()
        let holder = recorder.makeHandle()
        try holder.acquire(F.appA, caller: F.alice, force: false)
        drive.forgetCalls()

        // Same uid, another name; through a new handle and through the holder's.
        expectFailure(.busy) { () throws(RecorderError) in
            try recorder.makeHandle().acquire(F.appB, caller: F.alice, force: false)
        }
        expectFailure(.busy) { () throws(RecorderError) in
            try holder.acquire(F.appB, caller: F.alice, force: false)
        }
        // acquire_force does not take a held recorder either.
        expectFailure(.busy) { () throws(RecorderError) in
            try recorder.makeHandle().acquire(F.appB, caller: F.bob, force: true)
        }

        #expect(recorder.state() == held(by: F.appA, F.alice, count: 1))
        #expect(drive.calls.isEmpty)
        #expect(drive.claims == 1)
        #expect(drive.unclaims == 0)
    }

    /// Through another handle the same name of another uid is refused, root
    /// included. Through the holder's own handle (a descriptor passed to
    /// another user) it nests: the lock belongs to the handle, whoever
    /// writes; the holder stays the uid of the first lock.
    @Test(arguments: [F.bob, F.root])
    func theSameNameOfAnotherUidIsRefusedThroughAnotherHandle(_ stranger: Caller) throws {
        let (recorder, drive) = F.recorder()
        let holder = recorder.makeHandle()
        try holder.acquire(F.appA, caller: F.alice, force: false)
        drive.forgetCalls()

        expectFailure(.busy) { () throws(RecorderError) in
            try recorder.makeHandle().acquire(F.appA, caller: stranger, force: false)
        }
        #expect(recorder.state() == held(by: F.appA, F.alice, count: 1))

        try holder.acquire(F.appA, caller: stranger, force: false)
        #expect(recorder.state() == held(by: F.appA, F.alice, count: 2))
        // Another name is refused through the holder's handle too.
        expectFailure(.busy) { () throws(RecorderError) in
            try holder.acquire(F.appB, caller: stranger, force: false)
        }
        #expect(recorder.state() == held(by: F.appA, F.alice, count: 2))
        #expect(drive.calls.isEmpty)
    }

    @Test func aRefusedHandleHoldsNothing() throws {
        let (recorder, drive) = F.recorder()
        let holder = recorder.makeHandle()
        let refused = recorder.makeHandle()
        try holder.acquire(F.appA, caller: F.alice, force: false)
        expectFailure(.busy) { () throws(RecorderError) in try refused.acquire(F.appB, caller: F.bob, force: false) }

        refused.closed()
        #expect(recorder.state() == held(by: F.appA, F.alice, count: 1))
        holder.closed()
        #expect(recorder.state() == free)
        #expect(drive.unclaims == 1)
    }

    // MARK: Release

    /// A holds two locks, another process nests a third through A's handle:
    /// release drops the most recent, and B, refused, holds none of them.
    @Test func releaseDropsTheMostRecentLock() throws {
        let (recorder, drive) = F.recorder()
        let a = recorder.makeHandle()
        let b = recorder.makeHandle()
        try a.acquire(F.appA, caller: F.alice, force: false)
        try a.acquire(F.appA, caller: F.aliceAgain, force: false)
        expectFailure(.busy) { () throws(RecorderError) in try b.acquire(F.appA, caller: F.aliceAgain, force: false) }

        try recorder.release(F.appA, caller: F.alice)
        #expect(recorder.state() == held(by: F.appA, F.alice, count: 1))

        // B holds nothing: closing it changes nothing.
        b.closed()
        #expect(recorder.state() == held(by: F.appA, F.alice, count: 1))
        #expect(drive.unclaims == 0)

        // A still holds its first.
        a.closed()
        #expect(recorder.state() == free)
        #expect(drive.unclaims == 1)
    }

    /// Three locks through A, B refused between them: releases count A down.
    @Test func releasesCountDownTheHoldingHandle() throws {
        let (recorder, drive) = F.recorder()
        let a = recorder.makeHandle()
        let b = recorder.makeHandle()
        try a.acquire(F.appA, caller: F.alice, force: false)
        expectFailure(.busy) { () throws(RecorderError) in try b.acquire(F.appA, caller: F.alice, force: false) }
        try a.acquire(F.appA, caller: F.alice, force: false)
        try a.acquire(F.appA, caller: F.alice, force: false)

        try recorder.release(F.appA, caller: F.alice)
        try recorder.release(F.appA, caller: F.alice)
        #expect(recorder.state() == held(by: F.appA, F.alice, count: 1))
        #expect(a.holdsLocks)
        #expect(!b.holdsLocks)

        b.closed()
        #expect(recorder.state() == held(by: F.appA, F.alice, count: 1))
        a.closed()
        #expect(recorder.state() == free)
        #expect(drive.claims == 1)
        #expect(drive.unclaims == 1)
    }

    /// The holder's handle was closed: its locks are gone, and release
    /// drops only the lock of the handle that took the recorder next.
    @Test func releaseSkipsTheLocksOfClosedHandles() throws {
        let (recorder, drive) = F.recorder()
        let a = recorder.makeHandle()
        let b = recorder.makeHandle()
        try a.acquire(F.appA, caller: F.alice, force: false)
        try a.acquire(F.appA, caller: F.alice, force: false)
        expectFailure(.busy) { () throws(RecorderError) in try b.acquire(F.appA, caller: F.alice, force: false) }
        a.closed()
        #expect(recorder.state() == free)
        try b.acquire(F.appA, caller: F.alice, force: false)
        #expect(recorder.state() == held(by: F.appA, F.alice, count: 1))

        try recorder.release(F.appA, caller: F.alice)
        #expect(recorder.state() == free)
        #expect(drive.unclaims == 2)

        // B's lock is gone with the release: its close changes nothing.
        b.closed()
        #expect(recorder.state() == free)
        #expect(drive.unclaims == 2)
        #expect(drive.claims == 2)
        #expect(drive.violations.isEmpty)
    }

    @Test func releaseByAnotherUidIsNotPermitted() throws {
        let (recorder, drive) = F.recorder()
        try recorder.makeHandle().acquire(F.appA, caller: F.alice, force: false)
        drive.forgetCalls()

        let error = expectFailure(.notPermitted) { () throws(RecorderError) in
            try recorder.release(F.appA, caller: F.bob)
        }
        #expect(error == .notPermitted)
        #expect(recorder.state() == held(by: F.appA, F.alice, count: 1))
        #expect(drive.calls.isEmpty)
    }

    @Test func rootMayReleaseAnyonesLock() throws {
        let (recorder, drive) = F.recorder()
        try recorder.makeHandle().acquire(F.appA, caller: F.alice, force: false)

        try recorder.release(F.appA, caller: F.root)

        #expect(recorder.state() == free)
        #expect(drive.unclaims == 1)
    }

    @Test func anotherProcessOfTheHolderUidMayRelease() throws {
        let (recorder, _) = F.recorder()
        try recorder.makeHandle().acquire(F.appA, caller: F.alice, force: false)
        try recorder.release(F.appA, caller: F.aliceAgain)
        #expect(recorder.state() == free)
    }

    @Test(arguments: [F.alice, F.bob, F.root])
    func releaseOfANameHoldingNothing(_ caller: Caller) throws {
        let (recorder, drive) = F.recorder()

        // Free.
        #expect(expectFailure(.noLock) { () throws(RecorderError) in
            try recorder.release(F.appA, caller: caller)
        } == .noLock)

        // Held by another name.
        try recorder.makeHandle().acquire(F.appB, caller: F.alice, force: false)
        #expect(expectFailure(.noLock) { () throws(RecorderError) in
            try recorder.release(F.appA, caller: caller)
        } == .noLock)
        #expect(recorder.state() == held(by: F.appB, F.alice, count: 1))
        #expect(drive.unclaims == 0)
    }

    @Test func releasingMoreThanWasTakenIsNoLock() throws {
        let (recorder, drive) = F.recorder()
        let handle = recorder.makeHandle()
        try handle.acquire(F.appA, caller: F.alice, force: false)
        try handle.acquire(F.appA, caller: F.alice, force: false)

        try recorder.release(F.appA, caller: F.alice)
        try recorder.release(F.appA, caller: F.alice)
        expectFailure(.noLock) { () throws(RecorderError) in try recorder.release(F.appA, caller: F.alice) }

        #expect(recorder.state() == free)
        #expect(drive.claims == 1)
        #expect(drive.unclaims == 1)
    }

    @Test func theHandleStaysUsableAfterRelease() throws {
        let (recorder, drive) = F.recorder()
        let handle = recorder.makeHandle()
        try handle.acquire(F.appA, caller: F.alice, force: false)
        try recorder.release(F.appA, caller: F.alice)
        #expect(recorder.state() == free)

        // The same open file locks again, under another name even.
        try handle.acquire(F.appB, caller: F.alice, force: false)
        #expect(recorder.state() == held(by: F.appB, F.alice, count: 1))
        #expect(drive.claims == 2)

        handle.closed()
        #expect(recorder.state() == free)
        #expect(drive.unclaims == 2)
        #expect(drive.violations.isEmpty)
    }

    // MARK: Count 0 frees the drive

    @Test func theLastLockFreesTheDriveOnce() throws {
        let (recorder, drive) = F.recorder()
        let a = recorder.makeHandle()
        let b = recorder.makeHandle()
        try a.acquire(F.appA, caller: F.alice, force: false)
        expectFailure(.busy) { () throws(RecorderError) in try b.acquire(F.appA, caller: F.alice, force: false) }
        try a.acquire(F.appA, caller: F.alice, force: false)

        try recorder.release(F.appA, caller: F.alice)
        b.closed()
        #expect(drive.unclaims == 0)
        #expect(drive.claimed)
        try recorder.release(F.appA, caller: F.alice)

        #expect(recorder.state() == free)
        #expect(drive.unclaims == 1)
        #expect(!drive.claimed)
        #expect(drive.calls.last == .unclaim)
        // The holder's handle holds nothing more: its close frees nothing again.
        a.closed()
        #expect(drive.unclaims == 1)

        // A new holder, another name and uid, takes it fresh.
        drive.forgetCalls()
        try recorder.makeHandle().acquire(F.appB, caller: F.bob, force: false)
        #expect(recorder.state() == held(by: F.appB, F.bob, count: 1))
        #expect(drive.calls == [.probeExclusive, .claim(exclusive: false)])
        #expect(drive.claims == 2)
        #expect(drive.violations.isEmpty)
    }

    // MARK: Handle close

    @Test func closingAHandleDropsAllItsLocks() throws {
        let (recorder, drive) = F.recorder()
        let a = recorder.makeHandle()
        let b = recorder.makeHandle()
        try a.acquire(F.appA, caller: F.alice, force: false)
        try a.acquire(F.appA, caller: F.alice, force: false)
        expectFailure(.busy) { () throws(RecorderError) in try b.acquire(F.appA, caller: F.alice, force: false) }
        try a.acquire(F.appA, caller: F.aliceAgain, force: false)
        try recorder.release(F.appA, caller: F.alice)
        #expect(recorder.state() == held(by: F.appA, F.alice, count: 2))

        a.closed()
        #expect(recorder.state() == free)
        #expect(drive.unclaims == 1)
        expectFailure(.noLock) { () throws(RecorderError) in try recorder.release(F.appA, caller: F.alice) }

        // The refused handle may take the recorder now, fresh.
        try b.acquire(F.appA, caller: F.alice, force: false)
        #expect(recorder.state() == held(by: F.appA, F.alice, count: 1))
        #expect(drive.claims == 2)
    }

    @Test func closingTheOnlyHoldingHandleFreesTheDrive() throws {
        let (recorder, drive) = F.recorder()
        let handle = recorder.makeHandle()
        for _ in 0..<5 { try handle.acquire(F.appA, caller: F.alice, force: false) }

        handle.closed()

        #expect(recorder.state() == free)
        #expect(drive.claims == 1)
        #expect(drive.unclaims == 1)
    }

    @Test func closingAHandleWithoutLocksChangesNothing() throws {
        let (recorder, drive) = F.recorder()
        let idle = recorder.makeHandle()
        idle.closed()
        #expect(recorder.state() == free)

        try recorder.makeHandle().acquire(F.appA, caller: F.alice, force: false)
        drive.forgetCalls()
        let another = recorder.makeHandle()
        another.closed()
        // Closing twice (a stray RELEASE) is harmless as well.
        another.closed()

        #expect(recorder.state() == held(by: F.appA, F.alice, count: 1))
        #expect(drive.calls.isEmpty)
    }

    @Test func closingAHandleTwiceDropsItsLocksOnce() throws {
        let (recorder, drive) = F.recorder()
        let a = recorder.makeHandle()
        let b = recorder.makeHandle()
        try a.acquire(F.appA, caller: F.alice, force: false)
        try a.acquire(F.appA, caller: F.alice, force: false)

        a.closed()
        #expect(recorder.state() == free)
        try b.acquire(F.appA, caller: F.alice, force: false)
        // A stray second RELEASE of A does not touch B's lock.
        a.closed()

        #expect(recorder.state() == held(by: F.appA, F.alice, count: 1))
        #expect(drive.unclaims == 1)
        #expect(drive.claims == 2)
    }

    @Test func handlesHaveDistinctIdentities() {
        let (recorder, _) = F.recorder()
        let ids = (0..<100).map { _ in recorder.makeHandle().id }
        #expect(Set(ids).count == 100)
    }

    /// Many refused and closed handles, and many nested locks released
    /// again: release still finds the holder's first lock underneath.
    @Test func manyClosedHandlesLeaveReleaseCorrect() throws {
        let (recorder, drive) = F.recorder()
        let keeper = recorder.makeHandle()
        try keeper.acquire(F.appA, caller: F.alice, force: false)
        for _ in 0..<1000 {
            let transient = recorder.makeHandle()
            expectFailure(.busy) { () throws(RecorderError) in
                try transient.acquire(F.appA, caller: F.alice, force: false)
            }
            transient.closed()
            try keeper.acquire(F.appA, caller: F.aliceAgain, force: false)
            try keeper.acquire(F.appA, caller: F.aliceAgain, force: false)
            try recorder.release(F.appA, caller: F.alice)
            try recorder.release(F.appA, caller: F.alice)
        }
        #expect(recorder.state() == held(by: F.appA, F.alice, count: 1))

        try recorder.release(F.appA, caller: F.alice)
        #expect(recorder.state() == free)
        #expect(drive.claims == 1)
        #expect(drive.unclaims == 1)
        keeper.closed()
        #expect(drive.unclaims == 1)
    }
}
