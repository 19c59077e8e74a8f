import Logging
import Synchronization
import Testing
@testable import RecorderCore

// MARK: Which devices are recorders

@Suite("Recorder selection")
struct SelectionTests {
    typealias R = RecordedDrive

    static let discover = RecorderSelection(discover: true, patterns: [])

    @Test func opticalDrivesFoundByUdev() {
        for drive in [R.cdrw, R.dvdrw, R.bdre, R.empty, R.appendable] {
            #expect(drive.isOpticalDrive, "\(drive.name)")
            #expect(Self.discover.accepts(drive), "\(drive.name)")
        }
    }

    /// udev has processed the device: its word counts, not the SCSI type.
    @Test func udevDecidesForAnInitializedDevice() {
        var device = R.dvdrw
        device.properties["ID_CDROM"] = nil
        #expect(!Self.discover.accepts(device))
        device.properties["ID_CDROM"] = "0"
        #expect(!Self.discover.accepts(device))
    }

    /// Without a udev database (containers), a SCSI device of type 5.
    @Test func opticalDrivesFoundThroughSysfs() {
        #expect(Self.discover.accepts(R.uninitialized))
        for type in [nil, 0, 1, 4, 7, 14] {
            var device = R.uninitialized
            device.scsiType = type
            #expect(!Self.discover.accepts(device), "SCSI type \(String(describing: type))")
        }
        // An uninitialized device's properties are the kernel's: ID_CDROM there
        // means nothing.
        var device = R.uninitialized
        device.scsiType = nil
        device.properties["ID_CDROM"] = "1"
        #expect(!Self.discover.accepts(device))
    }

    @Test func partitionsNever() {
        let selection = RecorderSelection(discover: true, patterns: ["*"])
        for var device in [R.dvdrw, R.uninitialized, R.loop] {
            device.type = "partition"
            device.name += "p1"
            #expect(!device.isOpticalDrive)
            #expect(!selection.accepts(device), "\(device.name)")
        }
    }

    @Test func aDiskIsNoRecorder() {
        let disk = BlockDevice(name: "sda", node: "/dev/sda", properties: ["ID_TYPE": "disk", "ID_BUS": "ata"],
                               isInitialized: true, scsiType: 0, vendor: "ATA     ", model: "Samsung SSD 870 ")
        #expect(!Self.discover.accepts(disk))
        #expect(!Self.discover.accepts(R.loop))
    }

    @Test(arguments: [
        ("loop201", true), ("loop299", true), ("loop200", true),
        ("loop2", false), ("loop20", false), ("loop2000", false), ("loop2a1", false), ("xloop201", false),
    ])
    func globsMatchTheWholeKernelName(name: String, matches: Bool) {
        let selection = RecorderSelection(discover: true, patterns: ["loop2[0-9][0-9]"])
        let device = BlockDevice(name: name, node: "/dev/\(name)", isInitialized: true)
        #expect(selection.accepts(device) == matches)
    }

    @Test func anyOfSeveralGlobs() {
        let selection = RecorderSelection(discover: false, patterns: ["loop7", "nbd?", "sd[!a]"])
        let accepted = ["loop7", "nbd3", "sdb", "sdc"]
        let refused = ["loop70", "nbd12", "sda", "sr0"]
        for name in accepted {
            #expect(selection.accepts(BlockDevice(name: name, node: "/dev/\(name)")), "\(name)")
        }
        for name in refused {
            #expect(!selection.accepts(BlockDevice(name: name, node: "/dev/\(name)")), "\(name)")
        }
    }

    @Test func noDiscoverIgnoresOpticalDrivesButKeepsGlobs() {
        let selection = RecorderSelection(discover: false, patterns: ["loop2[0-9][0-9]", "sr1"])
        #expect(!selection.accepts(R.dvdrw))
        #expect(!selection.accepts(R.uninitialized))
        #expect(selection.accepts(R.bdre))  // sr1, by name
        #expect(selection.accepts(R.loop))
    }

    @Test func noDiscoverAndNoGlobsAcceptsNothing() {
        let selection = RecorderSelection(discover: false, patterns: [])
        for device in [R.cdrw, R.dvdrw, R.bdre, R.empty, R.appendable, R.uninitialized, R.loop] {
            #expect(!selection.accepts(device), "\(device.name)")
        }
    }
}
