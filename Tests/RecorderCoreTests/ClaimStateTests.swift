#if canImport(Glibc)
import Glibc
#endif
import Testing
@testable import RecorderCore

private typealias F = Fixture

/// Issue K in the core: the claim state a `state` file shows, and the
/// re-probe after a release to free (docs/design.md §4).
@Suite("Claim state and re-probe")
struct ClaimStateTests {
    /// free → claiming (with when it began, and whom it waits for) →
    /// locked → releasing → free → gone.
    @Test func theStateFollowsTheClaimAndTheRelease() throws {
        let (recorder, drive) = F.recorder()
        #expect(recorder.claimState() == .free)
        let claimGate = Gate()
        drive.onClaim { claimGate.pass() }
        let handle = recorder.makeHandle()
        let before = Recorder.wallClock()
        let claim = spawnAcquire(handle, F.appA, F.alice)
        #expect(eventually { claimGate.waiting == 1 })
        guard case .claiming(let since, nil) = recorder.claimState() else {
            Issue.record("not claiming: \(recorder.claimState())")
            return
        }
        #expect(since >= before && since <= Recorder.wallClock())
        drive.waitingFor.withLock { $0 = "flock held by pid 1234 (python3)" }
        #expect(recorder.claimState() == .claiming(since: since, waitingFor: "flock held by pid 1234 (python3)"))
        #expect(recorder.claimState().line == "claiming since \(HandleRecord.rfc3339(since)), waiting for flock held by pid 1234 (python3)")
        claimGate.open()
        #expect(throws: Never.self) { try claim.join()?.get() }
        #expect(recorder.claimState() == .locked)

        let releaseGate = Gate()
        drive.onUnclaim { releaseGate.pass() }
        let release = Spawned { handle.closed() }
        #expect(eventually { releaseGate.waiting == 1 })
        #expect(recorder.claimState() == .releasing)
        releaseGate.open()
        _ = release.join()
        #expect(recorder.claimState() == .free)
        recorder.remove()
        #expect(recorder.claimState() == .gone)
    }

    /// The line of each state, and its parse back.
    @Test(arguments: [ClaimState.free, .locked, .releasing, .gone, .claiming(since: 1_796_175_000, waitingFor: nil),
                      .claiming(since: 1_796_175_000, waitingFor: "flock held by pid 7 (growisofs)")])
    func theLineParsesBack(state: ClaimState) {
        #expect(ClaimState(line: state.line + "\n") == state)
    }

    @Test func linesThatAreNoStateAreRefused() {
        for line in ["", "Free", "claiming", "claiming since yesterday", "claiming since 2026-12-02T01:30:00Z; x"] {
            #expect(ClaimState(line: line) == nil, "\(line)")
        }
        #expect(ClaimState(line: "claiming since 2026-12-02T01:30:00Z") == .claiming(since: 1_796_175_000, waitingFor: nil))
    }

    /// One re-probe per release to free, after the claim is gone; none for
    /// a nest, a release that leaves locks, a refused write, a claim that
    /// failed, or a removal.
    @Test func oneReprobePerReleaseToFree() throws {
        let (recorder, drive) = F.recorder()
        let holder = recorder.makeHandle()
        try holder.acquire(F.appA, caller: F.alice, force: false)
        try holder.acquire(F.appA, caller: F.alice, force: false)
        let other = recorder.makeHandle()
        expectFailure(.busy) { () throws(RecorderError) in try other.acquire(F.appB, caller: F.bob, force: false) }
        try recorder.release(F.appA, caller: F.alice)
        #expect(drive.reprobes == 0)
        try recorder.release(F.appA, caller: F.alice)
        #expect(drive.reprobes == 1)

        try holder.acquire(F.appA, caller: F.alice, force: false)
        holder.closed()
        #expect(drive.reprobes == 2)

        drive.fail(.claim, with: .busy("held outside recorderfs by pid 7 (growisofs)"))
        expectFailure(.busy) { () throws(RecorderError) in try holder.acquire(F.appA, caller: F.alice, force: false) }
        let again = recorder.makeHandle()
        try again.acquire(F.appA, caller: F.alice, force: false)
        recorder.remove()
        #expect(drive.reprobes == 2)
        #expect(drive.violations.isEmpty)
    }
}
