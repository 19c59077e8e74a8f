import Testing
@testable import RecorderCore

/// docs/design.md §4–5: mounted volumes, the probe and the claim, drive errors and
/// their mapping, deadlines, and a recorder that goes away.
@Suite("Drive claim")
struct DriveClaimTests {
    typealias F = Fixture

    // MARK: Mounted volumes

    @Test func acquireRefusesAMountedDrive() throws {
        let (recorder, drive) = F.recorder(drive: FakeDrive(mounts: ["/media/disc", "/media/disc/inner"]))

        let error = expectFailure(.busy) { () throws(RecorderError) in
            try recorder.makeHandle().acquire(F.appA, caller: F.alice, force: false)
        }
        #expect(error == .busy("a volume is mounted at /media/disc"))
        // The exclusive probe fails; the mount table says why.
        #expect(drive.calls == [.probeExclusive, .mountPoints])
        #expect(drive.current.mounts == ["/media/disc", "/media/disc/inner"])
        #expect(drive.claims == 0)
        #expect(recorder.state() == free)
    }

    @Test(arguments: [false, true])
    func acquireForceUnmountsDeepestFirstThenClaims(exclusive: Bool) throws {
        let (recorder, drive) = F.recorder(
            exclusive: exclusive, drive: FakeDrive(mounts: ["/media/disc", "/media/disc/inner", "/srv/copy"]))

        try recorder.makeHandle().acquire(F.appA, caller: F.alice, force: true)

        #expect(drive.calls == [
            .probeExclusive, .mountPoints,
            .unmount("/srv/copy"), .unmount("/media/disc/inner"), .unmount("/media/disc"),
            .probeExclusive,
            .claim(exclusive: exclusive),
        ])
        #expect(drive.current.mounts.isEmpty)
        #expect(recorder.state() == held(by: F.appA, F.alice, count: 1))
    }

    @Test func acquireForceOnAnUnmountedDriveIsAPlainAcquire() throws {
        let (recorder, drive) = F.recorder(exclusive: true)
        try recorder.makeHandle().acquire(F.appA, caller: F.alice, force: true)
        #expect(drive.calls == [.probeExclusive, .claim(exclusive: true)])
    }

    /// A busy volume is detached lazily and the lock granted anyway; the
    /// kernel claim cannot be confirmed, so no probe and no O_EXCL claim.
    @Test(arguments: [false, true])
    func aBusyVolumeIsDetachedLazilyAndTheLockGranted(exclusive: Bool) throws {
        let drive = FakeDrive(mounts: ["/media/disc", "/media/disc/inner"], busyMounts: ["/media/disc/inner"])
        let (recorder, _) = F.recorder(exclusive: exclusive, drive: drive)

        try recorder.makeHandle().acquire(F.appA, caller: F.alice, force: true)

        #expect(drive.calls == [
            .probeExclusive, .mountPoints, .unmount("/media/disc/inner"), .unmount("/media/disc"), .claim(exclusive: false),
        ])
        #expect(drive.claimed)
        #expect(!drive.current.exclusive)
        #expect(recorder.state() == held(by: F.appA, F.alice, count: 1))
    }

    @Test func aFailedUnmountFailsTheAcquire() throws {
        let (recorder, drive) = F.recorder(drive: FakeDrive(mounts: ["/media/a", "/media/b"]))
        drive.fail(.unmount, with: .failed("unmount /media/b: Operation not permitted", errno: 1))

        // The first unmount (/media/b) fails: nothing further is tried.
        let error = expectFailure(.io) { () throws(RecorderError) in
            try recorder.makeHandle().acquire(F.appA, caller: F.alice, force: true)
        }
        #expect(error == .io("unmount /media/b: Operation not permitted"))
        #expect(drive.calls == [.probeExclusive, .mountPoints, .unmount("/media/b")])
        #expect(drive.claims == 0)
        #expect(recorder.state() == free)

        // Still mounted: a plain acquire is refused, a forced one works now.
        expectFailure(.busy) { () throws(RecorderError) in
            try recorder.makeHandle().acquire(F.appA, caller: F.alice, force: false)
        }
        try recorder.makeHandle().acquire(F.appA, caller: F.alice, force: true)
        #expect(recorder.state() == held(by: F.appA, F.alice, count: 1))
    }

    @Test func aVolumeMountedWhileHeldDoesNotAffectNesting() throws {
        let (recorder, drive) = F.recorder()
        let handle = recorder.makeHandle()
        try handle.acquire(F.appA, caller: F.alice, force: false)
        drive.mount("/media/disc")
        drive.forgetCalls()

        try handle.acquire(F.appA, caller: F.alice, force: false)

        #expect(drive.calls.isEmpty)
        #expect(recorder.state() == held(by: F.appA, F.alice, count: 2))
    }

    // MARK: Drive errors

    struct Failure: Sendable, CustomTestStringConvertible {
        var operation: FakeDrive.Operation
        var error: DriveError
        var expected: RecorderError
        var testDescription: String { "\(operation) \(error) → \(expected)" }
    }

    static let failures: [Failure] = [
        Failure(operation: .probeExclusive, error: .busy("another program holds the drive exclusively"),
                expected: .busy("another program holds the drive exclusively")),
        Failure(operation: .probeExclusive, error: .gone, expected: .noDevice),
        Failure(operation: .probeExclusive, error: .timedOut, expected: .timedOut),
        Failure(operation: .probeExclusive, error: .failed("open: Input/output error", errno: 5),
                expected: .io("open: Input/output error")),
        Failure(operation: .claim, error: .timedOut, expected: .timedOut),
        Failure(operation: .claim, error: .gone, expected: .noDevice),
        Failure(operation: .claim, error: .failed("flock: Input/output error", errno: 5),
                expected: .io("flock: Input/output error")),
        Failure(operation: .claim, error: .busy("flock: the device is busy"),
                expected: .busy("flock: the device is busy")),
        Failure(operation: .mountPoints, error: .gone, expected: .noDevice),
        Failure(operation: .mountPoints, error: .failed("cannot read the mount table", errno: 13),
                expected: .io("cannot read the mount table")),
    ]

    @Test(arguments: failures)
    func driveErrorsMapAndLeaveTheRecorderFree(_ failure: Failure) throws {
        // The mount table is read only when the exclusive probe fails.
        let mounts = failure.operation == .mountPoints ? ["/media/disc"] : []
        let (recorder, drive) = F.recorder(drive: FakeDrive(mounts: mounts))
        drive.fail(failure.operation, with: failure.error)
        let handle = recorder.makeHandle()

        let error = expectFailure(failure.expected.kind) { () throws(RecorderError) in
            try handle.acquire(F.appA, caller: F.alice, force: false)
        }
        #expect(error == failure.expected)
        #expect(recorder.state() == free)
        #expect(!drive.claimed)
        #expect(drive.claims == 0)
        // A failed claim holds nothing, so there is nothing to unclaim.
        #expect(drive.unclaims == 0)

        // The same handle, and another name, can lock afterwards.
        try handle.acquire(F.appB, caller: F.bob, force: !mounts.isEmpty)
        #expect(recorder.state() == held(by: F.appB, F.bob, count: 1))
        #expect(drive.claims == 1)
        handle.closed()
        #expect(recorder.state() == free)
        #expect(drive.unclaims == 1)
        #expect(drive.violations.isEmpty)
    }

    @Test func mapCoversEveryDriveError() {
        #expect(Recorder.map(.busy("x")) == .busy("x"))
        #expect(Recorder.map(.timedOut) == .timedOut)
        #expect(Recorder.map(.gone) == .noDevice)
        #expect(Recorder.map(.failed("x", errno: 5)) == .io("x"))
    }

    // MARK: Concurrent claims and deadlines

    /// While the drive is being claimed, a second writer of the same name
    /// through the same handle (an inherited descriptor) waits for the claim
    /// and then nests; it never claims a second time. Through another handle,
    /// the same name and uid is refused at once (one handle, one holder).
    @Test func aWriterDuringTheClaimWaitsThenNests() throws {
        let (recorder, drive) = F.recorder()
        let gate = Gate()
        drive.onClaim { gate.pass() }

        let handle = recorder.makeHandle()
        let first = spawnAcquire(handle, F.appA, F.alice)
        #expect(eventually { gate.waiting == 1 })
        let other = recorder.makeHandle()
        let refused = expectFailure(.busy) { () throws(RecorderError) in
            try other.acquire(F.appA, caller: F.aliceAgain, force: false)
        }
        #expect(refused == .busy("being locked by AppA (uid 1000)"))
        let second = spawnAcquire(handle, F.appA, F.aliceAgain)
        // A reader does not wait for the drive: it sees the recorder still free.
        #expect(recorder.state() == free)
        gate.open()

        #expect(throws: Never.self) { try first.join()?.get() }
        #expect(throws: Never.self) { try second.join()?.get() }
        #expect(recorder.state() == held(by: F.appA, F.alice, count: 2))
        #expect(drive.claims == 1)
        #expect(drive.calls.filter { $0 == .probeExclusive }.count == 1)
    }

    /// While the first writer's claim is under way, another name is refused
    /// at once (the recorder is being locked); once that claim has failed,
    /// the other name can lock.
    @Test func anotherNameDuringAClaimIsRefusedAtOnce() throws {
        let (recorder, drive) = F.recorder()
        let gate = Gate()
        drive.onClaim { gate.pass() }
        drive.fail(.claim, with: .failed("flock: Input/output error", errno: 5))

        let first = spawnAcquire(recorder.makeHandle(), F.appA, F.alice)
        #expect(eventually { gate.waiting == 1 })
        let second = recorder.makeHandle()
        let error = expectFailure(.busy) { () throws(RecorderError) in
            try second.acquire(F.appB, caller: F.bob, force: false)
        }
        #expect(error == .busy("being locked by AppA (uid 1000)"))
        gate.open()

        #expect(first.join()?.kind == .io)
        #expect(recorder.state() == free)
        try second.acquire(F.appB, caller: F.bob, force: false)
        #expect(recorder.state() == held(by: F.appB, F.bob, count: 1))
        #expect(drive.claims == 1)
        #expect(drive.violations.isEmpty)
    }

    /// A drive that does not answer never hangs a worker past the deadline:
    /// the writer whose claim hangs and the writer waiting behind it through
    /// the same handle both get ETIMEDOUT (another handle is refused at once),
    /// and the claim that completes late is undone.
    @Test func aWriterWaitingOnAHungClaimTimesOut() throws {
        let timeout = Duration.milliseconds(300)
        let (recorder, drive) = F.recorder(timeout: timeout)
        let gate = Gate()
        drive.onClaim { gate.pass() }

        let handle = recorder.makeHandle()
        let first = spawnAcquire(handle, F.appA, F.alice)
        #expect(eventually { gate.waiting == 1 })
        expectFailure(.busy) { () throws(RecorderError) in
            try recorder.makeHandle().acquire(F.appA, caller: F.alice, force: false)
        }

        let start = MonotonicInstant.now
        let error = expectFailure(.timedOut) { () throws(RecorderError) in
            try handle.acquire(F.appA, caller: F.alice, force: false)
        }
        #expect(error == .timedOut)
        // It waits no longer than the hung claim's own deadline.
        #expect(elapsed(since: start) < timeout + .seconds(3))
        // Readers are not held up by the hung drive either.
        #expect(recorder.state() == free)

        #expect(first.join()?.kind == .timedOut)
        gate.open()
        // The late claim is undone; neither writer added anything.
        #expect(eventually { drive.unclaims == 1 })
        #expect(!drive.claimed)
        #expect(recorder.state() == free)
        #expect(drive.claims == 1)
        #expect(throws: Never.self) { try recorder.makeHandle().acquire(F.appB, caller: F.bob, force: false) }
        #expect(recorder.state() == held(by: F.appB, F.bob, count: 1))
    }

    /// While the drive is being released (count 1 → 0), a new writer waits
    /// for the unclaim to finish before it probes and claims.
    @Test func aWriterDuringTheUnclaimWaitsForIt() throws {
        let (recorder, drive) = F.recorder()
        let gate = Gate()
        drive.onUnclaim { gate.pass() }
        let holder = recorder.makeHandle()
        try holder.acquire(F.appA, caller: F.alice, force: false)

        let closing = Spawned { holder.closed() }
        #expect(eventually { gate.waiting == 1 })
        drive.forgetCalls()
        let writer = spawnAcquire(recorder.makeHandle(), F.appB, F.bob)
        // Give the writer a chance to run into the transition; its outcome
        // does not depend on this pause, only what the test exercises.
        pause(.milliseconds(50))
        #expect(drive.calls.isEmpty)
        #expect(!writer.isFinished)
        gate.open()

        _ = closing.join()
        #expect(throws: Never.self) { try writer.join()?.get() }
        #expect(drive.calls == [.probeExclusive, .claim(exclusive: false)])
        #expect(recorder.state() == held(by: F.appB, F.bob, count: 1))
        #expect(drive.claims == 2)
        #expect(drive.unclaims == 1)
        #expect(drive.violations.isEmpty)
    }

    // MARK: The recorder goes away

    @Test func aRemovedRecorderFailsEverythingWithNoDevice() throws {
        let (recorder, drive) = F.recorder()
        let holder = recorder.makeHandle()
        try holder.acquire(F.appA, caller: F.alice, force: false)
        try holder.acquire(F.appA, caller: F.alice, force: false)

        recorder.remove()

        #expect(drive.unclaims == 1)
        #expect(!drive.claimed)
        expectFailure(.noDevice) { () throws(RecorderError) in try recorder.snapshot() }
        expectFailure(.noDevice) { () throws(RecorderError) in try holder.acquire(F.appA, caller: F.alice, force: false) }
        expectFailure(.noDevice) { () throws(RecorderError) in
            try recorder.makeHandle().acquire(F.appB, caller: F.bob, force: true)
        }
        expectFailure(.noDevice) { () throws(RecorderError) in try recorder.release(F.appA, caller: F.alice) }
        expectFailure(.noDevice) { () throws(RecorderError) in try recorder.release(F.appB, caller: F.root) }

        // The old handles still close, touching nothing.
        holder.closed()
        recorder.remove()
        #expect(drive.claims == 1)
        #expect(drive.unclaims == 1)
        #expect(drive.violations.isEmpty)
    }

    @Test func removingAFreeRecorderUnclaimsNothing() throws {
        let (recorder, drive) = F.recorder()
        recorder.remove()
        expectFailure(.noDevice) { () throws(RecorderError) in try recorder.snapshot() }
        #expect(drive.calls.isEmpty)
    }

    /// Removed while its first claim is in progress: the writer gets ENODEV
    /// and the claim it just took is dropped.
    @Test func aRecorderRemovedDuringTheClaim() throws {
        let (recorder, drive) = F.recorder()
        let gate = Gate()
        drive.onClaim { gate.pass() }

        let writer = spawnAcquire(recorder.makeHandle(), F.appA, F.alice)
        #expect(eventually { gate.waiting == 1 })
        recorder.remove()
        gate.open()

        #expect(writer.join()?.kind == .noDevice)
        #expect(drive.claims == 1)
        #expect(drive.unclaims == 1)
        #expect(!drive.claimed)
        expectFailure(.noDevice) { () throws(RecorderError) in try recorder.snapshot() }
    }

    /// Removed while a closing handle's unclaim is in progress: one unclaim.
    @Test func aRecorderRemovedDuringTheUnclaim() throws {
        let (recorder, drive) = F.recorder()
        let gate = Gate()
        drive.onUnclaim { gate.pass() }
        let holder = recorder.makeHandle()
        try holder.acquire(F.appA, caller: F.alice, force: false)

        let closing = Spawned { holder.closed() }
        #expect(eventually { gate.waiting == 1 })
        recorder.remove()
        gate.open()
        _ = closing.join()

        #expect(drive.claims == 1)
        #expect(drive.unclaims == 1)
        #expect(drive.violations.isEmpty)
        expectFailure(.noDevice) { () throws(RecorderError) in
            try recorder.makeHandle().acquire(F.appA, caller: F.alice, force: false)
        }
    }

}
