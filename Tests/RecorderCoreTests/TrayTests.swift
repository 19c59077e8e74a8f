import Testing
@testable import RecorderCore

// MARK: The tray

/// Issue C: `eject` and `closetray`.
@Suite("Tray")
struct TrayTests {
    typealias F = Fixture

    enum Command: String, CaseIterable, Sendable, CustomTestStringConvertible {
        case eject, closeTray

        func run(_ recorder: Recorder, _ caller: Caller, overrun: Overrun? = nil) throws(RecorderError) {
            switch self {
            case .eject: try recorder.eject(caller: caller, overrun: overrun)
            case .closeTray: try recorder.closeTray(caller: caller, overrun: overrun)
            }
        }

        var call: FakeDrive.Call { self == .eject ? .eject : .closeTray }
        var operation: FakeDrive.Operation { self == .eject ? .eject : .closeTray }
        var testDescription: String { rawValue }
    }

    @Test(arguments: Command.allCases)
    func allowedToAnyoneWhenFree(_ command: Command) throws {
        let (recorder, drive) = F.recorder()
        for caller in [F.alice, F.bob, F.root] {
            try command.run(recorder, caller)
        }
        #expect(drive.calls == Array(repeating: command.call, count: 3))
        #expect(recorder.state() == free)
        #expect(try recorder.snapshot().generation == 0)
    }

    @Test(arguments: Command.allCases)
    func whileLockedAllowedToTheHoldersUidAndRoot(_ command: Command) throws {
        let (recorder, drive) = F.recorder()
        try recorder.makeHandle().acquire(F.appA, caller: F.alice, force: false)
        drive.forgetCalls()

        try command.run(recorder, F.alice)
        try command.run(recorder, F.aliceAgain)
        try command.run(recorder, F.root)
        let error = expectFailure(.busy) { () throws(RecorderError) in try command.run(recorder, F.bob) }
        #expect(error == .busy("locked by AppA (uid 1000)"))

        #expect(drive.calls == Array(repeating: command.call, count: 3))
        #expect(recorder.state() == held(by: F.appA, F.alice, count: 1))
        #expect(try recorder.snapshot().generation == 1)
        #expect(drive.claimed)
    }

    @Test(arguments: Command.allCases)
    func unsupportedByTheDevice(_ command: Command) throws {
        let (recorder, drive) = F.recorder()
        drive.fail(command.operation, with: .unsupported)
        #expect(throws: RecorderError.unsupported) { try command.run(recorder, F.alice) }
        // Nothing sticks: the next one works.
        try command.run(recorder, F.alice)
    }

    static let failures: [(DriveError, RecorderError)] = [
        (.failed("eject: Input/output error", errno: 5), .io("eject: Input/output error")),
        (.gone, .noDevice),
        (.busy("eject: the device is busy"), .busy("eject: the device is busy")),
        (.timedOut, .timedOut),
    ]

    @Test(arguments: Command.allCases, failures)
    func driveErrorsMap(_ command: Command, failure: (DriveError, RecorderError)) throws {
        let (recorder, drive) = F.recorder()
        drive.fail(command.operation, with: failure.0)
        #expect(throws: failure.1) { try command.run(recorder, F.alice) }
        #expect(recorder.state() == free)
    }

    @Test(arguments: Command.allCases)
    func aRemovedRecorderIsNoDevice(_ command: Command) throws {
        let (recorder, drive) = F.recorder()
        recorder.remove()
        #expect(throws: RecorderError.noDevice) { try command.run(recorder, F.root) }
        #expect(!drive.calls.contains(command.call))
    }

    @Test(arguments: Command.allCases)
    func aHungTrayCommandTimesOut(_ command: Command) throws {
        let timeout = DeadlineTests.timeout
        let (recorder, drive) = F.recorder(timeout: timeout)
        let gate = Gate()
        drive.onTray { gate.pass() }
        defer { gate.open() }

        let start = MonotonicInstant.now
        let worker = Answered { overrun throws(RecorderError) in try command.run(recorder, F.alice, overrun: overrun) }
        #expect(worker.join()?.kind == .timedOut)
        let took = elapsed(since: start)
        #expect(took >= timeout, "returned after \(took)")
        #expect(took < timeout + DeadlineTests.slack, "returned after \(took)")
        #expect(gate.waiting == 1)

        // Past the deadline the drive refuses new calls at once; reads answer.
        let again = MonotonicInstant.now
        #expect(throws: RecorderError.timedOut) { try command.run(recorder, F.alice) }
        expectFailure(.timedOut) { () throws(RecorderError) in
            try recorder.makeHandle().acquire(F.appA, caller: F.alice, force: false)
        }
        #expect(recorder.state() == free)
        #expect(elapsed(since: again) < DeadlineTests.atOnce)

        // Once the drive answers, it works again.
        gate.open()
        _ = worker.worker.join()
        drive.onTray(nil)
        try command.run(recorder, F.alice)
        try recorder.makeHandle().acquire(F.appA, caller: F.alice, force: false)
        #expect(recorder.state() == held(by: F.appA, F.alice, count: 1))
    }
}
