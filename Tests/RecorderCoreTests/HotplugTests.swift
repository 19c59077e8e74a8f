import Logging
import Synchronization
import Testing
@testable import RecorderCore

// MARK: Hotplug

/// `Discovery.handle`, the reaction to one udev event. Built without
/// `start`, a Discovery touches neither udev nor a thread.
@Suite("Hotplug events")
struct HotplugTests {
    typealias F = Fixture
    typealias R = RecordedDrive

    final class Made: Sendable {
        let drives = Mutex<[String: FakeDrive]>([:])
    }

    static func discovery(_ selection: RecorderSelection = RecorderSelection(discover: true, patterns: []))
        -> (Discovery, RecorderSet, Made) {
        let set = RecorderSet()
        let made = Made()
        let discovery = Discovery(set: set, selection: selection, logger: F.quiet) { name, node in
            let drive = FakeDrive(node: node)
            made.drives.withLock { $0[name] = drive }
            return Recorder(name: name, drive: drive, logger: F.quiet)
        }
        return (discovery, set, made)
    }

    @Test func anAcceptedDriveIsAddedWithItsStableID() throws {
        let (discovery, set, _) = Self.discovery()
        discovery.handle(.add, R.dvdrw)
        let slot = try #require(set.slot(named: "sr0"))
        #expect(set.entry(slot: slot)?.stableID == "HL-DT-ST_DVD+_-RW_GH50N_K1Z98JH5025")
        #expect(set.entry(slot: slot)?.recorder.drive.node == "/dev/sr0")
    }

    @Test func aDeviceNotSelectedIsIgnored() {
        let (discovery, set, _) = Self.discovery()
        discovery.handle(.add, R.loop)
        discovery.handle(.change, R.loop)
        var partition = R.dvdrw
        partition.type = "partition"
        discovery.handle(.add, partition)
        #expect(set.entries.isEmpty)
    }

    /// A change event (a disc inserted) of a known drive changes nothing; one
    /// of a drive not known yet (udev finished probing it) adds it.
    @Test func changeEvents() throws {
        let (discovery, set, made) = Self.discovery()
        discovery.handle(.add, R.empty)
        let slot = try #require(set.slot(named: "sr0"))
        let recorder = try #require(set.recorder(slot: slot))
        try recorder.makeHandle().acquire(F.appA, caller: F.alice, force: false)

        var inserted = R.appendable
        inserted.name = "sr0"
        discovery.handle(.change, inserted)
        #expect(set.slot(named: "sr0") == slot)
        #expect(set.recorder(slot: slot) === recorder)
        #expect(recorder.state() == held(by: F.appA, F.alice, count: 1))

        discovery.handle(.change, R.bdre)
        #expect(set.slot(named: "sr1") != nil)
        #expect(made.drives.withLock { $0.count } == 2)
    }

    @Test func aRemovedDriveGoesAndComesBackFresh() throws {
        let (discovery, set, made) = Self.discovery()
        discovery.handle(.add, R.bdre)
        let oldSlot = try #require(set.slot(named: "sr1"))
        let old = try #require(set.recorder(slot: oldSlot))
        let handle = old.makeHandle()
        try handle.acquire(F.appA, caller: F.alice, force: false)
        let oldDrive = try #require(made.drives.withLock { $0["sr1"] })

        discovery.handle(.remove, R.bdre)
        #expect(set.slot(named: "sr1") == nil)
        #expect(set.slot(stableID: "PIONEER_BD-RW_BDR-209D_20170331000C3-0:0") == nil)
        expectFailure(.noDevice) { () throws(RecorderError) in try old.snapshot() }
        expectFailure(.noDevice) { () throws(RecorderError) in try handle.acquire(F.appA, caller: F.alice, force: false) }
        #expect(eventually { oldDrive.unclaims == 1 })

        discovery.handle(.add, R.bdre)
        let newSlot = try #require(set.slot(named: "sr1"))
        #expect(newSlot != oldSlot)
        #expect(set.slot(stableID: "PIONEER_BD-RW_BDR-209D_20170331000C3-0:0") == newSlot)
        let fresh = try #require(set.recorder(slot: newSlot))
        #expect(fresh !== old)
        #expect(fresh.state() == free)
        #expect(try fresh.snapshot().generation == 0)
    }

    @Test func removingAnUnknownDeviceChangesNothing() {
        let (discovery, set, _) = Self.discovery()
        let log = ChangeLog()
        set.observe { log.record($0) }
        discovery.handle(.remove, R.dvdrw)
        #expect(log.all.isEmpty)
    }

    @Test func globsWorkForHotplugToo() throws {
        let (discovery, set, _) = Self.discovery(RecorderSelection(discover: false, patterns: ["loop2[0-9][0-9]"]))
        discovery.handle(.add, R.dvdrw)
        discovery.handle(.add, R.loop)
        #expect(set.entries.map(\.recorder.name) == ["loop201"])
        let slot = try #require(set.slot(named: "loop201"))
        #expect(set.entry(slot: slot)?.stableID == nil)
    }
}
