import Foundation
import Logging
import Synchronization
import Testing
@testable import RecorderCore

// MARK: Recorded drives

/// Property sets of real drives, recorded from `udevadm info /dev/srN` output
/// of such drives (systemd-udevd with the stock rules: 60-cdrom_id,
/// 60-persistent-storage, 60-fs-uuid…) and kept verbatim, P:/S:/E: lines
/// included, in Recordings/NAME.udev (a resource of this target). Only the E:
/// lines are udev properties; the sysfs INQUIRY strings beside each, here, are
/// padded exactly as the kernel pads them (8/16/4 bytes).
enum RecordedDrive {
    /// An old PATA CD writer on libata. Its INQUIRY data has no unit serial
    /// number, so scsi_id exported nothing and udev knows it only by path.
    /// A closed CD-R is in the tray.
    static let cdrw = device("sr0", generic: "/dev/sg0", vendor: "LITE-ON ", model: "LTR-52327S      ", revision: "QS0C", recording("cdrw"))

    /// A SATA DVD±RW writer (ata_id names it after its ATA IDENTIFY model,
    /// "HL-DT-ST DVD+/-RW GH50N", hence "DVD+_-RW") with a pressed DVD.
    static let dvdrw = device("sr0", generic: "/dev/sg1", vendor: "HL-DT-ST", model: "DVD+-RW GH50N   ", revision: "B103", recording("dvdrw"))

    /// A BD writer in a USB enclosure (usb-storage), a blank BD-R in the tray.
    /// Its INQUIRY model has inner runs of spaces; the USB serial carries the
    /// instance (":") into ID_SERIAL.
    static let bdre = device("sr1", generic: "/dev/sg2", vendor: "PIONEER ", model: "BD-RW   BDR-209D", revision: "1.10", recording("bdre"))

    /// A SATA DVD writer with an empty tray: no ID_CDROM_MEDIA at all.
    static let empty = device("sr0", generic: "/dev/sg1", vendor: "ASUS    ", model: "DRW-24D5MT      ", revision: "1.00", recording("empty"))

    /// A SATA DVD writer holding a DVD+R with one closed session and room
    /// for more.
    static let appendable = device("sr0", generic: "/dev/sg1", vendor: "TSSTcorp", model: "CDDVDW SH-224DB ", revision: "SB00", recording("appendable"))

    /// The GH50N seen from a container without a udev database: libudev
    /// reports only the kernel's uevent properties and the device is not
    /// initialized; sysfs still has the INQUIRY strings and the SCSI type.
    static let uninitialized = BlockDevice(
        name: "sr0", node: "/dev/sr0",
        properties: udevProperties(recording("uninitialized")),
        isInitialized: false, scsiType: 5,
        vendor: "HL-DT-ST", model: "DVD+-RW GH50N   ", revision: "B103", genericNode: "/dev/sg1")

    /// A loop device taken with `--match`: udev has processed it, it is no
    /// optical drive, and it has neither serial nor path.
    static let loop = BlockDevice(
        name: "loop201", node: "/dev/loop201",
        properties: udevProperties(recording("loop")),
        isInitialized: true)

    static func device(_ name: String, generic: String, vendor: String, model: String, revision: String,
                       _ recording: String) -> BlockDevice {
        BlockDevice(name: name, node: "/dev/\(name)", properties: udevProperties(recording), isInitialized: true,
                    scsiType: 5, vendor: vendor, model: model, revision: revision, genericNode: generic)
    }

    /// The `udevadm info` output recorded in Recordings/NAME.udev.
    static func recording(_ name: String) -> String {
        guard let url = Bundle.module.url(forResource: name, withExtension: "udev", subdirectory: "Recordings") else {
            fatalError("Recordings/\(name).udev is not in the test bundle \(Bundle.module.bundlePath)")
        }
        do {
            let text = try String(contentsOf: url, encoding: .utf8)
            return text.hasSuffix("\n") ? String(text.dropLast()) : text
        } catch {
            fatalError("cannot read \(url.path): \(error)")
        }
    }

    /// The properties (E: lines) of `udevadm info` output.
    static func udevProperties(_ recording: String) -> [String: String] {
        var properties: [String: String] = [:]
        for line in recording.split(separator: "\n") where line.hasPrefix("E: ") {
            let entry = line.dropFirst(3)
            guard let equals = entry.firstIndex(of: "=") else { continue }
            properties[String(entry[..<equals])] = String(entry[entry.index(after: equals)...])
        }
        return properties
    }
}

/// A description with every field given, to compare exactly.
func describing(vendor: String?, model: String?, revision: String?, serial: String?, capabilities: [String]?,
                media: String?, genericNode: String?, stableID: String?) -> DriveDescription {
    var description = DriveDescription()
    description.vendor = vendor
    description.model = model
    description.revision = revision
    description.serial = serial
    description.capabilities = capabilities
    description.media = media
    description.genericNode = genericNode
    description.stableID = stableID
    return description
}

// MARK: Device information

/// Issue B: what the device information files show, from recorded udev
/// property sets and sysfs strings of real drives.
@Suite("Device information")
struct DescriptionTests {
    typealias R = RecordedDrive

    /// Every DVD writer cdrom_id probes with a current systemd also reports
    /// the DVD-RW recording modes (RO, SEQ), which are not in the documented
    /// order: they come last, by name.
    static let dvdWriter = [
        "cd", "cd_r", "cd_rw", "dvd", "dvd_r", "dvd_rw", "dvd_ram", "dvd_r_dl", "dvd_r_dl_seq", "dvd_r_dl_jr",
        "dvd_plus_r", "dvd_plus_rw", "dvd_plus_r_dl",
    ]

    @Test func theRecordingsParse() {
        #expect(R.dvdrw.properties["ID_CDROM"] == "1")
        #expect(R.dvdrw.properties["ID_SERIAL"] == "HL-DT-ST_DVD+_-RW_GH50N_K1Z98JH5025")
        #expect(R.dvdrw.properties["ID_FS_VERSION"] == "1.02")
        #expect(R.cdrw.properties["ID_FS_VERSION"] == "Joliet Extension")
        // Only E: lines are properties.
        #expect(R.cdrw.properties["N"] == nil && R.cdrw.properties["S"] == nil)
    }

    @Test func aCDWriterWithAClosedCDRKnownOnlyByPath() {
        #expect(DriveDescription(R.cdrw) == describing(
            vendor: "LITE-ON", model: "LTR-52327S", revision: "QS0C",
            serial: nil,
            capabilities: ["cd", "cd_r", "cd_rw"],
            media: "complete",
            genericNode: "/dev/sg0",
            stableID: "pci-0000:00:1f.1-ata-1"))
    }

    @Test func aDVDWriterOnATAWithAPressedDVD() {
        #expect(DriveDescription(R.dvdrw) == describing(
            vendor: "HL-DT-ST", model: "DVD+-RW GH50N", revision: "B103",
            serial: "K1Z98JH5025",
            capabilities: Self.dvdWriter + ["mrw", "mrw_w", "dvd_rw_ro", "dvd_rw_seq"],
            media: "complete",
            genericNode: "/dev/sg1",
            stableID: "HL-DT-ST_DVD+_-RW_GH50N_K1Z98JH5025"))
    }

    /// Inner runs of spaces in an INQUIRY string become one space (as udev's
    /// ID_MODEL makes them one "_").
    @Test func aBDWriterOverUSBWithABlankBDR() {
        #expect(DriveDescription(R.bdre) == describing(
            vendor: "PIONEER", model: "BD-RW BDR-209D", revision: "1.10",
            serial: "20170331000C3",
            capabilities: Self.dvdWriter + ["bd", "bd_r", "bd_r_srm", "bd_r_rrm", "bd_re", "mrw", "mrw_w",
                                            "dvd_rw_ro", "dvd_rw_seq"],
            media: "blank",
            genericNode: "/dev/sg2",
            stableID: "PIONEER_BD-RW_BDR-209D_20170331000C3-0:0"))
    }

    @Test func anEmptyTrayIsMediaNone() {
        #expect(DriveDescription(R.empty) == describing(
            vendor: "ASUS", model: "DRW-24D5MT", revision: "1.00",
            serial: "KDDL3AE2113",
            capabilities: Self.dvdWriter + ["mrw", "mrw_w", "dvd_rw_ro", "dvd_rw_seq"],
            media: "none",
            genericNode: "/dev/sg1",
            stableID: "ASUS_DRW-24D5MT_KDDL3AE2113"))
    }

    @Test func anAppendableDVDPlusR() {
        #expect(DriveDescription(R.appendable) == describing(
            vendor: "TSSTcorp", model: "CDDVDW SH-224DB", revision: "SB00",
            serial: "R8RN6GBF402718",
            capabilities: Self.dvdWriter + ["dvd_rw_ro", "dvd_rw_seq"],
            media: "appendable",
            genericNode: "/dev/sg1",
            stableID: "TSSTcorp_CDDVDW_SH-224DB_R8RN6GBF402718"))
    }

    /// Without udev's database the strings come from sysfs, and what only
    /// udev knows (capabilities, medium, serial, stable id) is unknown.
    @Test func anUninitializedDriveKnowsOnlyItsSysfsStrings() {
        #expect(DriveDescription(R.uninitialized) == describing(
            vendor: "HL-DT-ST", model: "DVD+-RW GH50N", revision: "B103",
            serial: nil, capabilities: nil, media: nil, genericNode: "/dev/sg1", stableID: nil))
    }

    /// The same udev properties without the database flag are not trusted.
    @Test func capabilitiesAndMediaNeedAnInitializedDevice() {
        var device = R.dvdrw
        device.isInitialized = false
        let description = DriveDescription(device)
        #expect(description.capabilities == nil)
        #expect(description.media == nil)
        #expect(description.vendor == "HL-DT-ST")
    }

    @Test func aLoopDeviceIsUnknownButForNothing() {
        #expect(DriveDescription(R.loop) == DriveDescription())
    }

    /// Without the sysfs strings (no SCSI parent) udev's are used.
    @Test func udevStringsStandInForMissingSysfsStrings() {
        var device = R.dvdrw
        device.vendor = nil
        device.model = "                "
        device.revision = nil
        device.genericNode = nil
        device.properties["ID_VENDOR"] = "HL-DT-ST"
        let description = DriveDescription(device)
        #expect(description.vendor == "HL-DT-ST")
        #expect(description.model == "HL-DT-ST_DVD+_-RW_GH50N")
        #expect(description.revision == "B103")
        #expect(description.genericNode == nil)
    }

    /// cdrom_id reports media without a state for discs it cannot read the
    /// disc information of; such a disc is read-only, hence complete.
    @Test func mediaWithoutAStateIsComplete() {
        var device = R.cdrw
        device.properties["ID_CDROM_MEDIA_STATE"] = nil
        #expect(DriveDescription(device).media == "complete")
    }

    /// cdrom_id also knows the state "other" (e.g. formatted rewritable
    /// media); the README documents only blank, appendable, complete and none.
    @Test func mediaIsOneOfTheDocumentedValues() {
        var device = R.bdre
        device.properties["ID_CDROM_MEDIA_STATE"] = "other"
        let media = DriveDescription(device).media
        // Random-access media (DVD-RAM, a formatted BD-RE) are neither blank,
        // appendable nor complete: udev's "other" is shown as it is.
        #expect(media == "other")
    }

    @Test func theSerialFallsBackToTheSCSISerial() {
        var device = R.cdrw
        device.properties["ID_SCSI_SERIAL"] = "  3V5 2 7F1  "
        #expect(DriveDescription(device).serial == "3V5 2 7F1")
    }

    @Test func capabilityFlagsAreOnlyThoseSetTo1() {
        var device = R.cdrw
        device.properties["ID_CDROM_DVD"] = "0"
        device.properties["ID_CDROM_BD"] = ""
        #expect(DriveDescription(device).capabilities == ["cd", "cd_r", "cd_rw"])
    }

    /// Each documented flag alone, then all of them shuffled, come out in the
    /// documented order.
    @Test func capabilitiesFollowTheDocumentedOrder() {
        var device = RecordedDrive.loop
        device.properties["ID_CDROM"] = "1"
        var shuffled = DriveDescription.capabilityOrder
        var random = SystemRandomNumberGenerator()
        shuffled.shuffle(using: &random)
        for flag in shuffled { device.properties["ID_CDROM_\(flag.uppercased())"] = "1" }
        device.properties["ID_CDROM_RW_REMOVABLE"] = "1"
        device.properties["ID_CDROM_DDCD"] = "1"
        #expect(DriveDescription(device).capabilities == DriveDescription.capabilityOrder + ["ddcd", "rw_removable"])
    }

    // MARK: Stable ids

    @Test(arguments: [
        ("HL-DT-ST_DVD+_-RW_GH50N_K1Z98JH5025", "HL-DT-ST_DVD+_-RW_GH50N_K1Z98JH5025"),
        ("PIONEER_BD-RW_BDR-209D_20170331000C3-0:0", "PIONEER_BD-RW_BDR-209D_20170331000C3-0:0"),
        ("Optiarc DVD RW/AD-7290H", "Optiarc_DVD_RW_AD-7290H"),
        ("a\u{0}b", "a_b"),
        ("Lecteur-é", "Lecteur-__"),
        ("...", "..."),
    ])
    func theStableIDIsIDSerialMadeFileNameSafe(serial: String, expected: String) {
        var device = R.dvdrw
        device.properties["ID_SERIAL"] = serial
        #expect(DriveDescription(device).stableID == expected)
    }

    @Test func aStableIDThatIsADotOrTwoIsNone() {
        for id in [".", ".."] {
            var device = R.cdrw
            device.properties["ID_PATH"] = id
            #expect(DriveDescription(device).stableID == nil, "ID_PATH \(id)")
        }
    }

    @Test func aStableIDIsAtMost200Bytes() {
        var device = R.dvdrw
        device.properties["ID_SERIAL"] = String(repeating: "X", count: 300)
        #expect(DriveDescription(device).stableID == String(repeating: "X", count: 200))
    }

    @Test func theStableIDFallsBackToIDPathThenToNone() {
        var device = R.dvdrw
        device.properties["ID_SERIAL"] = nil
        #expect(DriveDescription(device).stableID == "pci-0000:00:1f.2-ata-2")
        device.properties["ID_SERIAL"] = ""
        #expect(DriveDescription(device).stableID == "pci-0000:00:1f.2-ata-2")
        device.properties["ID_PATH"] = nil
        #expect(DriveDescription(device).stableID == nil)
    }
}
