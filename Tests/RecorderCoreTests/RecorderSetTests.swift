import Logging
import Synchronization
import Testing
@testable import RecorderCore

// MARK: The set of recorders

/// Records what an observer of a `RecorderSet` sees.
final class ChangeLog: Sendable {
    enum Entry: Equatable, Sendable {
        case added(String, Int)
        case removed(String, Int, String?)
    }

    private let entries = Mutex<[Entry]>([])

    func record(_ change: RecorderSet.Change) {
        let entry: Entry = switch change {
        case let .added(name, slot): .added(name, slot)
        case let .removed(name, slot, stableID, _): .removed(name, slot, stableID)
        }
        entries.withLock { $0.append(entry) }
    }

    var all: [Entry] { entries.withLock { $0 } }
}

@Suite("Recorder set")
struct RecorderSetTests {
    typealias F = Fixture

    static func recorder(_ name: String) -> Recorder {
        Recorder(name: name, drive: FakeDrive(node: "/dev/\(name)"), logger: F.quiet)
    }

    /// A long-running daemon sees recorders come and go for ever: the
    /// observer's call must cost the same after thousands of changes. (A
    /// function kept in a generic Mutex was wrapped in two more thunks at
    /// every change; after some 50,000 the hotplug thread's stack overflowed.)
    @Test("the observer is called at the same stack depth after 10,000 changes")
    func observerDoesNotDeepen() {
        let set = RecorderSet()
        let depths = Mutex<[Int]>([])
        set.observe { _ in
            var marker = 0
            let address = withUnsafeMutablePointer(to: &marker) { Int(bitPattern: $0) }
            depths.withLock { $0.append(address) }
        }
        for _ in 0..<5000 {
            set.add(Self.recorder("sr0"))
            set.remove(named: "sr0")
        }
        let seen = depths.withLock { $0 }
        #expect(seen.count == 10_000)
        if let first = seen.first, let last = seen.last {
            #expect(abs(first - last) < 4096, "the observer ran \(abs(first - last)) bytes deeper")
        }
    }

    @Test func slotsAreNeverReused() throws {
        let set = RecorderSet()
        let first = try #require(set.add(Self.recorder("sr0"), stableID: "A"))
        let other = try #require(set.add(Self.recorder("sr1")))
        #expect(first != other)
        #expect(set.remove(named: "sr0") != nil)
        #expect(set.recorder(slot: first) == nil)
        #expect(set.slot(named: "sr0") == nil)

        let fresh = Self.recorder("sr0")
        let again = try #require(set.add(fresh, stableID: "A"))
        #expect(again != first && again != other)
        #expect(set.recorder(slot: again) === fresh)
        #expect(set.slot(named: "sr0") == again)
        #expect(set.slot(stableID: "A") == again)
        // The old slot stays dead: a stale handle cannot reach the new recorder.
        #expect(set.recorder(slot: first) == nil)
        #expect(set.entry(slot: first) == nil)
    }

    @Test func aNameIsTakenOnce() throws {
        let set = RecorderSet()
        let slot = try #require(set.add(Self.recorder("sr0")))
        #expect(set.add(Self.recorder("sr0")) == nil)
        #expect(set.entries.count == 1)
        #expect(set.slot(named: "sr0") == slot)
    }

    @Test func aConflictingStableIDGoesToTheFirstOnly() throws {
        let set = RecorderSet()
        let first = try #require(set.add(Self.recorder("sr0"), stableID: "HL-DT-ST_DVD+_-RW_GH50N_K1Z98JH5025"))
        let second = try #require(set.add(Self.recorder("sr1"), stableID: "HL-DT-ST_DVD+_-RW_GH50N_K1Z98JH5025"))
        #expect(set.entry(slot: first)?.stableID == "HL-DT-ST_DVD+_-RW_GH50N_K1Z98JH5025")
        #expect(set.entry(slot: second)?.stableID == nil)
        #expect(set.slot(stableID: "HL-DT-ST_DVD+_-RW_GH50N_K1Z98JH5025") == first)

        // Removing the second leaves the first's id alone.
        set.remove(named: "sr1")
        #expect(set.slot(stableID: "HL-DT-ST_DVD+_-RW_GH50N_K1Z98JH5025") == first)
        // Removing the first frees the id for the next drive that has it.
        set.remove(named: "sr0")
        #expect(set.slot(stableID: "HL-DT-ST_DVD+_-RW_GH50N_K1Z98JH5025") == nil)
        let third = try #require(set.add(Self.recorder("sr2"), stableID: "HL-DT-ST_DVD+_-RW_GH50N_K1Z98JH5025"))
        #expect(set.entry(slot: third)?.stableID == "HL-DT-ST_DVD+_-RW_GH50N_K1Z98JH5025")
    }

    @Test func removeMakesTheRecorderGoAway() throws {
        let set = RecorderSet()
        let drive = FakeDrive(node: "/dev/sr0")
        let recorder = Recorder(name: "sr0", drive: drive, logger: F.quiet)
        set.add(recorder)
        let handle = recorder.makeHandle()
        try handle.acquire(F.appA, caller: F.alice, force: false)

        #expect(set.remove(named: "sr0") === recorder)
        expectFailure(.noDevice) { () throws(RecorderError) in try recorder.snapshot() }
        expectFailure(.noDevice) { () throws(RecorderError) in try recorder.holders() }
        expectFailure(.noDevice) { () throws(RecorderError) in try recorder.description() }
        expectFailure(.noDevice) { () throws(RecorderError) in try handle.acquire(F.appA, caller: F.alice, force: false) }
        // Its claim is dropped.
        #expect(eventually { drive.unclaims == 1 })
        #expect(!drive.claimed)
        #expect(set.remove(named: "sr0") == nil)
    }

    @Test func entriesAreSortedByName() {
        let set = RecorderSet()
        for name in ["sr1", "loop201", "sr0"] { set.add(Self.recorder(name)) }
        #expect(set.entries.map(\.recorder.name) == ["loop201", "sr0", "sr1"])
        #expect(set.entries.map(\.slot) == [1, 2, 0])
    }

    @Test func theObserverSeesAddedAndRemoved() {
        let set = RecorderSet()
        let log = ChangeLog()
        set.observe { log.record($0) }

        set.add(Self.recorder("sr0"), stableID: "ID0")
        set.add(Self.recorder("sr1"), stableID: "ID0")
        set.add(Self.recorder("sr0"))                 // name taken: no change
        set.remove(named: "sr0")
        set.remove(named: "sr0")                      // gone already: no change
        set.add(Self.recorder("sr0"))
        set.removeAll()

        #expect(log.all == [
            .added("sr0", 0), .added("sr1", 1),
            .removed("sr0", 0, "ID0"),
            .added("sr0", 2),
            .removed("sr0", 2, nil), .removed("sr1", 1, nil),
        ])

        set.observe(nil)
        set.add(Self.recorder("sr9"))
        #expect(log.all.count == 6)
    }

    /// The observer runs outside the set's lock: it may read the set.
    @Test func theObserverMayReadTheSet() {
        let set = RecorderSet()
        let seen = Mutex<[Int?]>([])
        set.observe { [set] change in
            if case let .added(name, _) = change { seen.withLock { $0.append(set.slot(named: name)) } }
        }
        set.add(Self.recorder("sr0"))
        #expect(seen.withLock { $0 } == [0])
    }
}
