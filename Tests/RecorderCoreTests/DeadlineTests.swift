import Testing
@testable import RecorderCore

/// Issue C: calls into the drive run under a deadline. A client is answered
/// at the deadline at the latest (the watchdog answers for a worker the drive
/// still holds); what a late call leaves behind is undone; while a call hangs
/// past its deadline, new callers fail at once; readers and other recorders
/// never wait for a hung drive.
@Suite("Deadlines")
struct DeadlineTests {
    typealias F = Fixture

    static let timeout = Duration.milliseconds(200)
    /// Far more than any scheduling delay, far less than a hang.
    static let slack = Duration.seconds(1)
    /// What "at once" means here: well before the deadline.
    static let atOnce = timeout / 2

    /// A recorder whose claims block at `gate` until it opens.
    static func hangingClaim() -> (Recorder, FakeDrive, Gate) {
        let (recorder, drive) = F.recorder(timeout: timeout)
        let gate = Gate()
        drive.onClaim { gate.pass() }
        return (recorder, drive, gate)
    }

    /// A recorder locked by AppA through `handle`, whose unclaims block at
    /// `gate` until it opens.
    static func lockedWithHangingUnclaim() throws -> (Recorder, FakeDrive, Gate, LockHandle) {
        let (recorder, drive) = F.recorder(timeout: timeout)
        let gate = Gate()
        drive.onUnclaim { gate.pass() }
        let handle = recorder.makeHandle()
        try handle.acquire(F.appA, caller: F.alice, force: false)
        return (recorder, drive, gate, handle)
    }

    /// Takes a lock through `handle`; expects it to time out at roughly the
    /// deadline, not before.
    @discardableResult
    static func acquireTimesOut(_ handle: LockHandle, sourceLocation: SourceLocation = #_sourceLocation) -> Answered {
        let start = MonotonicInstant.now
        let writer = spawnAcquire(handle, F.appA, F.alice)
        let answer = writer.join(sourceLocation: sourceLocation)
        let took = elapsed(since: start)
        #expect(answer?.kind == .timedOut, sourceLocation: sourceLocation)
        #expect(took >= timeout, "returned after \(took)", sourceLocation: sourceLocation)
        #expect(took < timeout + slack, "returned after \(took)", sourceLocation: sourceLocation)
        return writer
    }

    @Test func aHungClaimTimesOutAndIsUndoneWhenItReturns() throws {
        let (recorder, drive, gate) = Self.hangingClaim()
        let handle = recorder.makeHandle()

        let writer = Self.acquireTimesOut(handle)

        // The call still hangs in the drive; the table never changed.
        #expect(gate.waiting == 1)
        #expect(recorder.state() == free)
        #expect(try recorder.holders() == [])
        #expect(try recorder.snapshot().generation == 0)

        // The claim completes after all: it is undone.
        gate.open()
        _ = writer.worker.join()
        #expect(drive.unclaims == 1)
        #expect(drive.claims == 1)
        #expect(!drive.claimed)
        #expect(recorder.state() == free)

        // And the recorder works again, through the same handle.
        try handle.acquire(F.appA, caller: F.alice, force: false)
        #expect(recorder.state() == held(by: F.appA, F.alice, count: 1))
        #expect(try recorder.snapshot().generation == 1)
        #expect(drive.claims == 2)
        #expect(drive.claimed)
        #expect(drive.violations.isEmpty)
    }

    /// A claim that fails after its caller gave up holds nothing: nothing to undo.
    @Test func aClaimFailingAfterItsDeadlineLeavesNothingToUndo() throws {
        let (recorder, drive) = F.recorder(timeout: Self.timeout)
        let gate = Gate()
        drive.onClaim { () throws(DriveError) in
            gate.pass()
            throw .failed("flock: Input/output error", errno: 5)
        }
        let writer = Self.acquireTimesOut(recorder.makeHandle())

        gate.open()
        _ = writer.worker.join()
        #expect(drive.claims == 0)
        #expect(drive.unclaims == 0)
        #expect(recorder.state() == free)

        drive.onClaim(nil)
        try recorder.makeHandle().acquire(F.appB, caller: F.bob, force: false)
        #expect(recorder.state() == held(by: F.appB, F.bob, count: 1))
        #expect(drive.violations.isEmpty)
    }

    /// Who writes while a claim hangs: through the claim's own handle, with
    /// its name; through another handle with the same name and uid (one
    /// handle, one holder: that is someone else); another name and uid.
    enum LateWriter: String, CaseIterable, Sendable, CustomTestStringConvertible {
        case sameHandle, sameNameOtherHandle, otherName
        var testDescription: String { rawValue }
    }

    /// While the claim hangs past its deadline, a new writer does not queue
    /// behind it for a deadline of its own: it fails at once, with
    /// ETIMEDOUT through the claim's own handle, EBUSY through any other.
    @Test(arguments: LateWriter.allCases)
    func whileAClaimHangsNewAcquiresFailAtOnce(writer: LateWriter) throws {
        let (recorder, drive, gate) = Self.hangingClaim()
        defer { gate.open() }
        let claiming = recorder.makeHandle()
        Self.acquireTimesOut(claiming)
        try #require(gate.waiting == 1)

        let (name, caller) = writer == .otherName ? (F.appB, F.bob) : (F.appA, F.alice)
        let handle = writer == .sameHandle ? claiming : recorder.makeHandle()
        let expected: RecorderError = writer == .sameHandle ? .timedOut : .busy("being locked by AppA (uid 1000)")
        let start = MonotonicInstant.now
        let error = expectFailure(expected.kind) { () throws(RecorderError) in
            try handle.acquire(name, caller: caller, force: false)
        }
        let took = elapsed(since: start)
        #expect(error == expected)
        #expect(took < Self.atOnce, "the second acquire took \(took) (deadline \(Self.timeout))")
        #expect(recorder.state() == free)
        #expect(drive.claims == 0)
    }

    /// A release waits for a claim under way (it may be for the name it
    /// releases), but not for one hung past its deadline: it answers at once,
    /// ENOLCK or ETIMEDOUT.
    @Test func whileAClaimHangsAReleaseAnswersAtOnce() throws {
        let (recorder, _, gate) = Self.hangingClaim()
        defer { gate.open() }
        Self.acquireTimesOut(recorder.makeHandle())
        try #require(gate.waiting == 1)

        let start = MonotonicInstant.now
        let outcome = Result { () throws(RecorderError) in try recorder.release(F.appA, caller: F.alice) }
        let took = elapsed(since: start)
        #expect(outcome.kind == .noLock || outcome.kind == .timedOut)
        #expect(took < Self.atOnce, "the release took \(took) (deadline \(Self.timeout))")
    }

    /// The RELEASE of a handle that holds nothing (a refused writer's, say)
    /// has nothing to wait for, and a claim hung past its deadline least of all.
    @Test func whileAClaimHangsAnIdleHandleClosesAtOnce() throws {
        let (recorder, _, gate) = Self.hangingClaim()
        defer { gate.open() }
        Self.acquireTimesOut(recorder.makeHandle())
        try #require(gate.waiting == 1)

        let handle = recorder.makeHandle()
        let start = MonotonicInstant.now
        handle.closed()
        let took = elapsed(since: start)
        #expect(took < Self.atOnce, "the close took \(took) (deadline \(Self.timeout))")
    }

    /// Reads, and past the deadline the tray commands, answer at once while
    /// the claim hangs.
    @Test func whileAClaimHangsEverythingElseAnswersAtOnce() throws {
        let (recorder, drive, gate) = Self.hangingClaim()
        defer { gate.open() }
        let writer = spawnAcquire(recorder.makeHandle(), F.appA, F.alice)
        #expect(eventually { gate.waiting == 1 })

        // Within the deadline and past it.
        for phase in ["before the deadline", "past the deadline"] {
            if phase == "past the deadline" {
                #expect(writer.join()?.kind == .timedOut)
            }
            let start = MonotonicInstant.now
            #expect(recorder.state() == free, "\(phase)")
            #expect(try recorder.holders() == [], "\(phase)")
            #expect(try recorder.description() == DriveDescription(), "\(phase)")
            #expect(try recorder.volumes() == [], "\(phase)")
            #expect(elapsed(since: start) < Self.atOnce, "reads \(phase) took \(elapsed(since: start))")
        }

        // Past the deadline the drive's queue refuses new calls at once.
        let start = MonotonicInstant.now
        expectFailure(.timedOut) { () throws(RecorderError) in try recorder.eject(caller: F.alice) }
        expectFailure(.timedOut) { () throws(RecorderError) in try recorder.closeTray(caller: F.alice) }
        #expect(elapsed(since: start) < Self.atOnce, "tray commands took \(elapsed(since: start))")
        #expect(!drive.calls.contains(.eject))
    }

    /// Another recorder, with its own drive, locks and unlocks normally while
    /// the first one's drive hangs.
    @Test func anotherRecorderIsNotHeldUp() throws {
        let (recorder, drive, gate) = Self.hangingClaim()
        let writer = spawnAcquire(recorder.makeHandle(), F.appA, F.alice)
        #expect(eventually { gate.waiting == 1 })

        let (other, otherDrive) = F.recorder(timeout: Self.timeout)
        for phase in ["before the deadline", "past the deadline"] {
            if phase == "past the deadline" {
                #expect(writer.join()?.kind == .timedOut)
            }
            let start = MonotonicInstant.now
            let handle = other.makeHandle()
            try handle.acquire(F.appB, caller: F.bob, force: false)
            try handle.acquire(F.appB, caller: F.bob, force: false)
            #expect(other.state() == held(by: F.appB, F.bob, count: 2), "\(phase)")
            try other.release(F.appB, caller: F.bob)
            handle.closed()
            #expect(other.state() == free, "\(phase)")
            try other.eject(caller: F.bob)
            #expect(elapsed(since: start) < Self.atOnce, "\(phase): took \(elapsed(since: start))")
        }
        #expect(eventually { otherDrive.unclaims == 2 })
        #expect(otherDrive.claims == 2)
        #expect(otherDrive.violations.isEmpty)

        gate.open()
        #expect(eventually { drive.unclaims == 1 })
        #expect(!drive.claimed)
    }

    /// The drive is let go (count 1 → 0) before the table shows the recorder
    /// free. While that hangs, readers still answer at once and see the lock,
    /// and writers wait for it only until their own deadline.
    @Test func aHungUnclaimHoldsOthersOnlyUntilTheirDeadline() throws {
        let (recorder, drive, gate, handle) = try Self.lockedWithHangingUnclaim()
        defer { gate.open() }
        let closing = Spawned { handle.closed() }
        #expect(eventually { gate.waiting == 1 })

        let start = MonotonicInstant.now
        #expect(recorder.state() == held(by: F.appA, F.alice, count: 1))
        #expect(try recorder.holders().map(HolderRow.init) == [HolderRow(F.appA, F.alice, count: 1)])
        #expect(elapsed(since: start) < Self.atOnce)

        for (name, caller) in [(F.appB, F.bob), (F.appA, F.alice)] {
            let writer = MonotonicInstant.now
            expectFailure(.timedOut) { () throws(RecorderError) in
                try recorder.makeHandle().acquire(name, caller: caller, force: false)
            }
            #expect(elapsed(since: writer) < Self.timeout + Self.slack, "\(name)")
        }
        #expect(drive.claims == 1)

        gate.open()
        _ = closing.join()
        // The late unclaim finishes the release on the closing worker.
        #expect(eventually { recorder.state() == free })
        #expect(drive.unclaims == 1)
        try recorder.makeHandle().acquire(F.appB, caller: F.bob, force: false)
        #expect(recorder.state() == held(by: F.appB, F.bob, count: 1))
        #expect(drive.violations.isEmpty)
    }

    /// docs/design.md §4: a hung call into the drive must not hold anyone past a
    /// deadline. The worker that delivers the RELEASE stays in the drive
    /// until the unclaim returns (the request loop keeps other workers
    /// reading, and later requests stop waiting for that RELEASE at the
    /// deadline); past the deadline, writers fail at once instead of waiting;
    /// the table is updated when the unclaim ends.
    @Test func aHungUnclaimHoldsOnlyTheClosingWorker() throws {
        let (recorder, drive, gate, handle) = try Self.lockedWithHangingUnclaim()
        defer { gate.open() }
        let closing = Spawned { handle.closed() }
        #expect(eventually { gate.waiting == 1 })
        pause(Self.timeout)
        // Past the deadline: nobody queues behind the hung drive.
        let start = MonotonicInstant.now
        expectFailure(.timedOut) { () throws(RecorderError) in
            try recorder.makeHandle().acquire(F.appB, caller: F.bob, force: false)
        }
        expectFailure(.timedOut) { () throws(RecorderError) in try recorder.eject(caller: F.root) }
        #expect(recorder.state() == held(by: F.appA, F.alice, count: 1))
        #expect(elapsed(since: start) < Self.atOnce)
        #expect(!closing.isFinished)

        gate.open()
        _ = closing.join()
        #expect(recorder.state() == free)
        #expect(drive.unclaims == 1)
        try recorder.makeHandle().acquire(F.appB, caller: F.bob, force: false)
        #expect(recorder.state() == held(by: F.appB, F.bob, count: 1))
    }

    /// A `release` write that drops the last lock while the unclaim hangs
    /// is answered success at the deadline: the lock is gone whatever the
    /// drive does, and the recorder shows free once the unclaim returns.
    @Test func aReleaseHeldByAHungUnclaimIsAnsweredAtTheDeadline() throws {
        let (recorder, drive, gate, _) = try Self.lockedWithHangingUnclaim()
        defer { gate.open() }

        let start = MonotonicInstant.now
        let writer = Answered { overrun throws(RecorderError) in try recorder.release(F.appA, caller: F.alice, overrun: overrun) }
        let answer = writer.join()
        let took = elapsed(since: start)
        #expect(answer.map { if case .success = $0 { true } else { false } } == true)
        #expect(took >= Self.timeout && took < Self.timeout + Self.slack, "answered after \(took)")
        #expect(gate.waiting == 1)

        gate.open()
        _ = writer.worker.join()
        #expect(recorder.state() == free)
        #expect(drive.unclaims == 1)
        #expect(drive.violations.isEmpty)
    }

    /// Removed while the claim hangs: remove() returns at once, and the claim
    /// is undone when it completes.
    @Test func aRecorderRemovedWhileItsClaimHangs() throws {
        let (recorder, drive, gate) = Self.hangingClaim()
        let writer = spawnAcquire(recorder.makeHandle(), F.appA, F.alice)
        #expect(eventually { gate.waiting == 1 })

        let start = MonotonicInstant.now
        recorder.remove()
        #expect(elapsed(since: start) < Self.atOnce)
        expectFailure(.noDevice) { () throws(RecorderError) in try recorder.snapshot() }
        let outcome = writer.join()
        #expect(outcome?.kind == .timedOut || outcome?.kind == .noDevice)

        gate.open()
        #expect(eventually { drive.unclaims == 1 })
        #expect(!drive.claimed)
        #expect(drive.violations.isEmpty)
    }
}
