import Foundation
import Testing
@testable import RecorderCore

/// Issue C: `generation` counts the free → locked transitions since mount.
@Suite("Generation")
struct GenerationTests {
    typealias F = Fixture

    static func generation(_ recorder: Recorder, sourceLocation: SourceLocation = #_sourceLocation) -> UInt64? {
        do {
            return try recorder.snapshot().generation
        } catch {
            Issue.record("snapshot failed: \(error)", sourceLocation: sourceLocation)
            return nil
        }
    }

    @Test func startsAtZero() {
        let (recorder, _) = F.recorder()
        #expect(Self.generation(recorder) == 0)
    }

    @Test func countsFreeToLockedOnly() throws {
        let (recorder, _) = F.recorder()
        let first = recorder.makeHandle()
        let second = recorder.makeHandle()

        try first.acquire(F.appA, caller: F.alice, force: false)
        #expect(Self.generation(recorder) == 1)
        // Nesting, through the holder's handle by any process, is no transition.
        try first.acquire(F.appA, caller: F.alice, force: false)
        try first.acquire(F.appA, caller: F.aliceAgain, force: true)
        #expect(Self.generation(recorder) == 1)
        // Neither is a refusal, of any name through another handle.
        expectFailure(.busy) { () throws(RecorderError) in try second.acquire(F.appA, caller: F.aliceAgain, force: true) }
        expectFailure(.busy) { () throws(RecorderError) in try second.acquire(F.appB, caller: F.bob, force: false) }
        expectFailure(.busy) { () throws(RecorderError) in try second.acquire(F.appA, caller: F.bob, force: false) }
        #expect(Self.generation(recorder) == 1)
        // Nor is freeing.
        try recorder.release(F.appA, caller: F.alice)
        second.closed()
        first.closed()
        #expect(recorder.state() == free)
        #expect(Self.generation(recorder) == 1)

        // Locked again, by anyone, through any handle: one more.
        try first.acquire(F.appB, caller: F.bob, force: false)
        #expect(Self.generation(recorder) == 2)
        first.closed()
        try recorder.makeHandle().acquire(F.appA, caller: F.alice, force: true)
        #expect(Self.generation(recorder) == 3)
    }

    @Test func manyCycles() throws {
        let (recorder, _) = F.recorder()
        for cycle in 1...20 {
            let handle = recorder.makeHandle()
            try handle.acquire(F.appA, caller: F.alice, force: false)
            try handle.acquire(F.appA, caller: F.alice, force: false)
            #expect(Self.generation(recorder) == UInt64(cycle))
            handle.closed()
        }
    }

    static let failures: [(FakeDrive.Operation, DriveError)] = [
        (.mountPoints, .failed("cannot read the mount table", errno: 13)),
        (.probeExclusive, .busy("another program holds the drive exclusively")),
        (.claim, .failed("flock: Input/output error", errno: 5)),
        (.claim, .timedOut),
        (.claim, .gone),
    ]

    @Test(arguments: failures)
    func aFailedClaimIsNoTransition(operation: FakeDrive.Operation, error: DriveError) throws {
        let (recorder, drive) = F.recorder()
        try recorder.makeHandle().acquire(F.appA, caller: F.alice, force: false)
        try recorder.release(F.appA, caller: F.alice)
        #expect(Self.generation(recorder) == 1)

        // The mount table is read only when the exclusive probe fails.
        if operation == .mountPoints { drive.mount("/media/disc") }
        drive.fail(operation, with: error)
        let outcome = Result { () throws(RecorderError) in
            try recorder.makeHandle().acquire(F.appA, caller: F.alice, force: false)
        }
        #expect(throws: (any Error).self) { try outcome.get() }
        #expect(Self.generation(recorder) == 1)
        #expect(recorder.state() == free)
    }

    @Test func aMountedVolumeIsNoTransition() throws {
        let (recorder, _) = F.recorder(drive: FakeDrive(mounts: ["/media/disc"]))
        expectFailure(.busy) { () throws(RecorderError) in
            try recorder.makeHandle().acquire(F.appA, caller: F.alice, force: false)
        }
        #expect(Self.generation(recorder) == 0)
        try recorder.makeHandle().acquire(F.appA, caller: F.alice, force: true)
        #expect(Self.generation(recorder) == 1)
    }

    /// A claim that took the drive but lost its caller to the deadline is
    /// undone, and the recorder never was locked.
    @Test func aTimedOutClaimIsNoTransition() throws {
        let (recorder, drive) = F.recorder(timeout: .milliseconds(100))
        let gate = Gate()
        drive.onClaim { gate.pass() }
        expectFailure(.timedOut) { () throws(RecorderError) in
            try recorder.makeHandle().acquire(F.appA, caller: F.alice, force: false)
        }
        gate.open()
        #expect(eventually { drive.unclaims == 1 })
        #expect(Self.generation(recorder) == 0)
    }
}
