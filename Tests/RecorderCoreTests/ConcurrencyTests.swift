import Synchronization
import Testing
@testable import RecorderCore

/// Many FUSE workers at once: acquires, releases, FLUSHes and RELEASEs of a
/// few handles under two names. Whatever the interleaving, the table and the
/// drive agree, and once every handle is closed the recorder is free.
@Suite("Concurrency")
struct ConcurrencyTests {
    typealias F = Fixture

    /// A small, seedable generator, so a failing run can be replayed.
    struct SplitMix64: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    /// What the workers observed that breaks a rule.
    final class Findings: Sendable {
        private let problems = Mutex<[String]>([])
        func record(_ problem: String) { problems.withLock { $0.append(problem) } }
        var all: [String] { problems.withLock { $0 } }
    }

    static let threads = 8
    static let steps = 600

    /// One worker: its own open handles (a handle is never used after its
    /// RELEASE, as the kernel guarantees), random operations on them.
    static func work(_ recorder: Recorder, seed: UInt64, findings: Findings) {
        var random = SplitMix64(state: seed)
        let names = [F.appA, F.appB]
        let caller = Caller(pid: Int32(1000 + seed % 100), uid: 1000, gid: 1000)
        var handles: [LockHandle] = []

        for _ in 0..<steps {
            switch Int.random(in: 0..<100, using: &random) {
            case 0..<40:
                if handles.isEmpty || Bool.random(using: &random) { handles.append(recorder.makeHandle()) }
                let handle = handles.randomElement(using: &random)!
                let name = names.randomElement(using: &random)!
                do {
                    try handle.acquire(name, caller: caller, force: Bool.random(using: &random))
                } catch where error.kind == .busy {
                    // Held, or being locked, through another handle, or
                    // held under the other name.
                } catch {
                    findings.record("acquire: \(error)")
                }
            case 40..<65:
                do {
                    try recorder.release(names.randomElement(using: &random)!, caller: caller)
                } catch where error.kind == .noLock {
                    // The name holds nothing right now.
                } catch {
                    findings.record("release: \(error)")
                }
            case 65..<85:
                // close(2) of the last descriptor: RELEASE.
                guard !handles.isEmpty else { continue }
                let handle = handles.remove(at: Int.random(in: 0..<handles.count, using: &random))
                handle.closed()
            case 85..<90:
                do {
                    let holders = try recorder.holders()
                    if holders.contains(where: { $0.count <= 0 }) { findings.record("empty holder: \(holders)") }
                    // One handle, one holder.
                    if holders.count > 1 { findings.record("more than one holder: \(holders)") }
                } catch {
                    findings.record("holders: \(error)")
                }
            default:
                do {
                    let state = try recorder.snapshot()
                    if (state.holder == nil) != (state.lockCount == 0) || state.lockCount < 0 {
                        findings.record("inconsistent snapshot: \(state)")
                    }
                } catch {
                    findings.record("snapshot: \(error)")
                }
            }
        }
        for handle in handles {
            handle.closed()
        }
    }

    @Test(arguments: [false, true])
    func randomWorkersLeaveTheRecorderFree(exclusive: Bool) throws {
        let (recorder, drive) = F.recorder(exclusive: exclusive)
        let findings = Findings()
        let seed = UInt64.random(in: 0..<UInt64.max)

        let workers = (0..<Self.threads).map { index in
            Spawned { Self.work(recorder, seed: seed &+ UInt64(index), findings: findings) }
        }
        for worker in workers { _ = worker.join(within: .seconds(60)) }

        #expect(findings.all.isEmpty, "seed \(seed)")
        #expect(recorder.state() == free, "seed \(seed)")
        #expect(!drive.claimed, "seed \(seed)")
        #expect(drive.claims == drive.unclaims, "seed \(seed)")
        #expect(drive.claims > 0, "seed \(seed)")
        #expect(drive.violations.isEmpty, "seed \(seed)")
    }

    /// The same, with a drive whose claims fail now and then.
    @Test func randomWorkersOverAFlakyDrive() throws {
        let drive = FakeDrive()
        let failures = Mutex(SplitMix64(state: 42))
        drive.onClaim { () throws(DriveError) in
            let roll = failures.withLock { Int.random(in: 0..<4, using: &$0) }
            switch roll {
            case 0: throw .timedOut
            case 1: throw .busy("flock: the device is busy")
            default: break
            }
        }
        let (recorder, _) = F.recorder(drive: drive)
        let findings = Findings()
        let seed = UInt64.random(in: 0..<UInt64.max)

        let workers = (0..<Self.threads).map { index in
            Spawned { Self.flakyWork(recorder, seed: seed &+ UInt64(index), findings: findings) }
        }
        for worker in workers { _ = worker.join(within: .seconds(60)) }

        #expect(findings.all.isEmpty, "seed \(seed)")
        #expect(recorder.state() == free, "seed \(seed)")
        #expect(!drive.claimed, "seed \(seed)")
        #expect(drive.claims == drive.unclaims, "seed \(seed)")
        #expect(drive.violations.isEmpty, "seed \(seed)")
    }

    static func flakyWork(_ recorder: Recorder, seed: UInt64, findings: Findings) {
        var random = SplitMix64(state: seed)
        let name = [F.appA, F.appB][Int(seed % 2)]
        let caller = Caller(pid: Int32(2000 + seed % 100), uid: 1000, gid: 1000)
        for _ in 0..<200 {
            let handle = recorder.makeHandle()
            for _ in 0..<Int.random(in: 1...3, using: &random) {
                do {
                    try handle.acquire(name, caller: caller, force: false)
                } catch where [.busy, .timedOut].contains(error.kind) {
                    // The other name holds it, or the drive failed this claim.
                } catch {
                    findings.record("acquire: \(error)")
                }
            }
            if Bool.random(using: &random) {
                try? recorder.release(name, caller: caller)
            }
            handle.closed()
        }
    }

    /// Readers never block on the drive: a reader during a hung claim answers.
    @Test func readersRunWhileTheDriveIsBusy() throws {
        let (recorder, drive) = F.recorder()
        let gate = Gate()
        drive.onClaim { gate.pass() }
        let writer = spawnAcquire(recorder.makeHandle(), F.appA, F.alice)
        #expect(eventually { gate.waiting == 1 })

        let readers = (0..<4).map { _ in
            Spawned { () -> RecorderSnapshot? in try? recorder.snapshot() }
        }
        for reader in readers { #expect(reader.join(within: .seconds(2)) == .some(.some(free))) }

        gate.open()
        #expect(throws: Never.self) { try writer.join()?.get() }
    }
}
