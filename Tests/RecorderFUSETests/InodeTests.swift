import CFuseShim
@testable import RecorderFUSE
import Testing

/// The inode numbers of docs/design.md §1: arithmetic, so that every lookup
/// is O(1), and never reused across slots.
@Suite("Inode arithmetic")
struct InodeTests {
    static let slots = [0, 1, 2, 7, 31, 32, 1000, 123_456]

    @Test func theFixedNodes() {
        #expect(Inode.root.rawValue == fuse_ino_t(FUSE_ROOT_ID))
        #expect(Inode.root.rawValue == 1)
        #expect(Inode.byID.rawValue == 2)
        #expect(Inode.events.rawValue == 3)
        #expect(Inode.root.node == .root)
        #expect(Inode.byID.node == .byID)
        #expect(Inode.events.node == .events)
    }

    @Test func theNumbersOfSlotZero() {
        #expect(Inode(directoryOf: 0).rawValue == 32)
        #expect(Inode(file: .owner, of: 0).rawValue == 33)
        #expect(Inode(file: .acquireWait, of: 0).rawValue == 32 + 19)
        #expect(Inode(linkOf: 0).rawValue == 63)
        #expect(Inode(directoryOf: 1).rawValue == 64)
    }

    @Test(arguments: slots)
    func aDirectoryRoundTrips(slot: Int) {
        let inode = Inode(directoryOf: slot)
        #expect(inode.node == .directory(slot: slot))
        #expect(inode.slot == slot)
    }

    @Test(arguments: slots)
    func aLinkRoundTrips(slot: Int) {
        let inode = Inode(linkOf: slot)
        #expect(inode.node == .link(slot: slot))
        #expect(inode.slot == slot)
    }

    @Test(arguments: RecorderFile.allCases)
    func everyFileRoundTrips(file: RecorderFile) {
        for slot in Self.slots {
            let inode = Inode(file: file, of: slot)
            #expect(inode.node == .file(file, slot: slot), "slot \(slot)")
            #expect(inode.slot == slot)
        }
    }

    /// 0 and 31 of the low five bits are the directory and the link: the
    /// files must fit between them.
    @Test func theFilesFitBetweenDirectoryAndLink() {
        #expect(RecorderFile.allCases.count <= 30)
        for file in RecorderFile.allCases {
            let low = Inode(file: file, of: 0).rawValue & 31
            #expect(low != 0 && low != 31, "\(file.name)")
        }
    }

    @Test func slotsNeverCollide() {
        var seen: [fuse_ino_t: String] = [
            Inode.root.rawValue: "root", Inode.byID.rawValue: "by-id", Inode.events.rawValue: "events",
        ]
        func record(_ inode: Inode, _ what: String) {
            if let other = seen.updateValue(what, forKey: inode.rawValue) {
                Issue.record("inode \(inode.rawValue) is both \(other) and \(what)")
            }
        }
        for slot in 0..<200 {
            record(Inode(directoryOf: slot), "directory \(slot)")
            record(Inode(linkOf: slot), "link \(slot)")
            for file in RecorderFile.allCases {
                record(Inode(file: file, of: slot), "\(file.name) of \(slot)")
            }
        }
        #expect(seen.count == 3 + 200 * (2 + RecorderFile.allCases.count))
    }

    @Test func numbersThatNameNothing() {
        // 0 and the numbers below the first slot other than the fixed nodes.
        #expect(Inode(rawValue: 0).node == nil)
        for raw in fuse_ino_t(4)..<32 {
            #expect(Inode(rawValue: raw).node == nil, "\(raw)")
        }
        // The file codes past the last file, up to the link's.
        for slot in [0, 5] {
            for low in (RecorderFile.allCases.count + 1)..<31 {
                let raw = fuse_ino_t(slot + 1) << 5 | fuse_ino_t(low)
                #expect(Inode(rawValue: raw).node == nil, "slot \(slot), code \(low)")
            }
        }
    }

    @Test func fileNamesRoundTrip() {
        var names = Set<String>()
        for file in RecorderFile.allCases {
            #expect(RecorderFile.byName[file.name] == file)
            #expect(names.insert(file.name).inserted, "\(file.name) twice")
        }
        #expect(RecorderFile.byName.count == RecorderFile.allCases.count)
        #expect(RecorderFile.byName["acquire_force"] == .acquireForce)
        #expect(RecorderFile.byName["acquire_wait"] == .acquireWait)
        #expect(RecorderFile.byName["acquireForce"] == nil)
    }

    @Test func kindsOfFiles() {
        let control: Set<RecorderFile> = [.acquire, .acquireForce, .acquireWait, .release, .eject, .closetray]
        for file in RecorderFile.allCases {
            #expect(file.isControl == control.contains(file), "\(file.name)")
            #expect(file.takesLocks == [.acquire, .acquireForce, .acquireWait].contains(file), "\(file.name)")
            #expect(file.waits == (file == .acquireWait), "\(file.name)")
            #expect(file.isPollable == [.owner, .lockcount, .holders, .generation].contains(file), "\(file.name)")
        }
    }
}
