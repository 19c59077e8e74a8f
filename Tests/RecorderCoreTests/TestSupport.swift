import Foundation
import Logging
import Testing
@testable import RecorderCore

// MARK: Fixtures

/// Client names and callers shared by the lock-rule tests.
enum Fixture {
    static let appA = name("AppA")
    static let appB = name("AppB")

    static let alice = Caller(pid: 100, uid: 1000, gid: 1000)
    static let aliceAgain = Caller(pid: 101, uid: 1000, gid: 1000)
    static let bob = Caller(pid: 200, uid: 1001, gid: 1001)
    static let root = Caller(pid: 1, uid: 0, gid: 0)

    static func name(_ string: String) -> ClientName {
        do { return try ClientName(string) } catch { fatalError("bad fixture name \(string): \(error)") }
    }

    /// Refusals are logged at notice: thousands in the concurrency tests.
    static let quiet = Logger(label: "recorderfs-tests") { _ in SwiftLogNoOpLogHandler() }

    /// A recorder over a fresh fake drive.
    static func recorder(
        exclusive: Bool = false,
        timeout: Duration = .seconds(5),
        drive: FakeDrive = FakeDrive()
    ) -> (Recorder, FakeDrive) {
        let options = RecorderOptions(exclusive: exclusive, timeout: timeout)
        return (Recorder(name: "sr0", drive: drive, options: options, logger: quiet), drive)
    }
}

// MARK: Errors

extension RecorderError {
    /// The case without its explanation, to compare outcomes exactly where
    /// the wording of the explanation is not part of the contract.
    enum Kind: Equatable, Sendable {
        case invalidName, busy, notPermitted, noLock, timedOut, noDevice, badHandle, outOfMemory, io, unsupported
        case tooManyHandles, tooManyLocks, interrupted
    }

    var kind: Kind {
        switch self {
        case .invalidName: .invalidName
        case .busy: .busy
        case .notPermitted: .notPermitted
        case .noLock: .noLock
        case .timedOut: .timedOut
        case .noDevice: .noDevice
        case .badHandle: .badHandle
        case .outOfMemory: .outOfMemory
        case .io: .io
        case .unsupported: .unsupported
        case .tooManyHandles: .tooManyHandles
        case .tooManyLocks: .tooManyLocks
        case .interrupted: .interrupted
        }
    }
}

/// Expects `body` to fail with an error of `kind`; returns that error.
@discardableResult
func expectFailure<T>(
    _ kind: RecorderError.Kind,
    sourceLocation: SourceLocation = #_sourceLocation,
    _ body: () throws(RecorderError) -> T
) -> RecorderError? {
    do {
        let value = try body()
        Issue.record("expected \(kind), got success: \(value)", sourceLocation: sourceLocation)
        return nil
    } catch {
        #expect(error.kind == kind, "got \(error)", sourceLocation: sourceLocation)
        return error
    }
}

extension Recorder {
    /// The holder and the lock count, which must be readable. The generation
    /// is left at 0 so that the lock-rule tests compare only what they are
    /// about; `GenerationTests` read it through `snapshot()`.
    func state(sourceLocation: SourceLocation = #_sourceLocation) -> RecorderSnapshot {
        do {
            var snapshot = try snapshot()
            snapshot.generation = 0
            return snapshot
        } catch {
            Issue.record("snapshot failed: \(error)", sourceLocation: sourceLocation)
            return RecorderSnapshot(holder: nil, lockCount: -1)
        }
    }
}

extension RecorderSnapshot {
    /// The holder and the lock count only, as `held(by:)` builds them.
    var withoutGeneration: RecorderSnapshot {
        var snapshot = self
        snapshot.generation = 0
        return snapshot
    }
}

func held(by name: ClientName, _ caller: Caller, count: Int) -> RecorderSnapshot {
    RecorderSnapshot(holder: Holder(name: name, uid: caller.uid), lockCount: count)
}

let free = RecorderSnapshot(holder: nil, lockCount: 0)

// MARK: Time and threads

/// Time elapsed since `start`.
func elapsed(since start: MonotonicInstant) -> Duration {
    .nanoseconds(MonotonicInstant.now.nanoseconds - start.nanoseconds)
}

/// Polls `condition` until it holds or `limit` has passed; returns whether it held.
func eventually(within limit: Duration = .seconds(5), _ condition: () -> Bool) -> Bool {
    let deadline = MonotonicInstant.now.advanced(by: limit)
    while !condition() {
        if deadline < MonotonicInstant.now { return false }
        usleep(500)
    }
    return true
}

/// Sleeps on the calling thread. Only used to stand for a delay of the kernel
/// (a RELEASE that arrives late), never to wait for an outcome.
func pause(_ duration: Duration) {
    let (seconds, attoseconds) = duration.components
    var spec = timespec(tv_sec: Int(seconds), tv_nsec: Int(attoseconds / 1_000_000_000))
    nanosleep(&spec, nil)
}

/// A body running on its own thread, as a FUSE worker does.
final class Spawned<Value: Sendable>: @unchecked Sendable {
    private let done = DispatchSemaphore(value: 0)
    private var result: Value?

    init(_ body: @escaping @Sendable () -> Value) {
        let thread = Thread { [self] in
            result = body()
            done.signal()
        }
        thread.stackSize = 1 << 20
        thread.start()
    }

    /// The value of the body; nil (and an issue) if it did not end within
    /// `limit`, which means a worker hangs.
    func join(within limit: Duration = .seconds(10), sourceLocation: SourceLocation = #_sourceLocation) -> Value? {
        let (seconds, attoseconds) = limit.components
        let timeout = DispatchTime.now() + .nanoseconds(Int(seconds) * 1_000_000_000 + Int(attoseconds / 1_000_000_000))
        guard done.wait(timeout: timeout) == .success else {
            Issue.record("a worker thread did not finish within \(limit)", sourceLocation: sourceLocation)
            return nil
        }
        // The semaphore orders the write of `result` before this read.
        return result
    }

    /// Whether the body has ended (non-blocking).
    var isFinished: Bool {
        guard done.wait(timeout: .now()) == .success else { return false }
        done.signal()
        return true
    }
}

/// Runs `body` on its own thread and returns how it ended.
func spawnAcquire(_ handle: LockHandle, _ name: ClientName, _ caller: Caller, force: Bool = false) -> Answered {
    Answered { overrun throws(RecorderError) in
        try handle.acquire(name, caller: caller, force: force, overrun: overrun)
    }
}

/// An operation run as a FUSE worker runs it: on a thread of its own, with an
/// `Overrun` through which the watchdog answers the client at the deadline if
/// the drive still holds the worker. `join` gives the client's answer, the
/// first of the two.
final class Answered: Sendable {
    private let answer = Monitor<Result<Void, RecorderError>?>(nil)
    private let given = DispatchSemaphore(value: 0)
    /// The worker's thread, which a hung drive may hold after the answer.
    let worker: Spawned<Void>

    init(_ body: @escaping @Sendable (Overrun) throws(RecorderError) -> Void) {
        let (answer, given) = (answer, given)
        let overrun = Overrun { outcome in
            answer.withLock { $0 = outcome.map { .failure($0) } ?? .success(()) }
            given.signal()
        }
        worker = Spawned {
            let result = Result { () throws(RecorderError) in try body(overrun) }
            if overrun.settle() {
                answer.withLock { $0 = result }
                given.signal()
            }
        }
    }

    /// Waits for the answer (at most `limit`, so a broken test cannot hang).
    func join(within limit: Duration = .seconds(10), sourceLocation: SourceLocation = #_sourceLocation)
        -> Result<Void, RecorderError>? {
        let (seconds, attoseconds) = limit.components
        let timeout = DispatchTime.now() + .nanoseconds(Int(seconds) * 1_000_000_000 + Int(attoseconds / 1_000_000_000))
        guard given.wait(timeout: timeout) == .success else {
            Issue.record("no answer within \(limit)", sourceLocation: sourceLocation)
            return nil
        }
        return answer.withLock { $0 }
    }

    /// Whether the client has its answer (non-blocking).
    var isFinished: Bool { answer.withLock { $0 != nil } }
}

/// A gate a fake drive call can wait at, so a test can hold a call "inside
/// the drive" while other threads act.
final class Gate: Sendable {
    private let monitor = Monitor((open: false, waiting: 0))

    func open() {
        monitor.withLock { state in
            state.open = true
            monitor.broadcast()
        }
    }

    /// How many threads are waiting at the gate.
    var waiting: Int { monitor.withLock { $0.waiting } }

    /// Waits until the gate opens (at most 10 s, so a broken test cannot hang).
    func pass() {
        let deadline = MonotonicInstant.now.advanced(by: .seconds(10))
        monitor.withWaitableLock { locked in
            locked.state.waiting += 1
            while !locked.state.open && locked.wait(until: deadline) {}
            locked.state.waiting -= 1
        }
    }
}
extension Result where Failure == RecorderError {
    var kind: RecorderError.Kind? {
        if case .failure(let error) = self { error.kind } else { nil }
    }
}
