import Logging
import Synchronization
import Testing
@testable import RecorderCore

// MARK: Recorded drives

/// Property sets of real drives, recorded from `udevadm info /dev/srN` output
/// of such drives (systemd-udevd with the stock rules: 60-cdrom_id,
/// 60-persistent-storage, 60-fs-uuid…) and kept verbatim, P:/S:/E: lines
/// included. Only the E: lines are udev properties; the sysfs INQUIRY strings
/// beside each are padded exactly as the kernel pads them (8/16/4 bytes).
enum RecordedDrive {
    /// An old PATA CD writer on libata. Its INQUIRY data has no unit serial
    /// number, so scsi_id exported nothing and udev knows it only by path.
    /// A closed CD-R is in the tray.
    static let cdrw = device("sr0", generic: "/dev/sg0", vendor: "LITE-ON ", model: "LTR-52327S      ", revision: "QS0C", """
        P: /devices/pci0000:00/0000:00:1f.1/ata1/host0/target0:0:0/0:0:0:0/block/sr0
        M: sr0
        U: block
        T: disk
        D: b 11:0
        N: sr0
        L: -100
        S: cdrom
        S: cdrw
        S: disk/by-label/PHOTOS_2003
        S: disk/by-path/pci-0000:00:1f.1-ata-1
        S: disk/by-uuid/2003-06-14-18-22-05-00
        Q: 3
        E: DEVPATH=/devices/pci0000:00/0000:00:1f.1/ata1/host0/target0:0:0/0:0:0:0/block/sr0
        E: DEVNAME=/dev/sr0
        E: DEVTYPE=disk
        E: DISKSEQ=3
        E: MAJOR=11
        E: MINOR=0
        E: SUBSYSTEM=block
        E: USEC_INITIALIZED=4811520
        E: ID_CDROM=1
        E: SYSTEMD_MOUNT_DEVICE_BOUND=1
        E: ID_CDROM_CD_R=1
        E: ID_CDROM_CD_RW=1
        E: ID_CDROM_CD=1
        E: ID_CDROM_MEDIA=1
        E: ID_CDROM_MEDIA_CD_R=1
        E: ID_CDROM_MEDIA_STATE=complete
        E: ID_CDROM_MEDIA_SESSION_COUNT=1
        E: ID_CDROM_MEDIA_TRACK_COUNT=1
        E: ID_CDROM_MEDIA_TRACK_COUNT_DATA=1
        E: ID_BUS=scsi
        E: ID_PATH=pci-0000:00:1f.1-ata-1
        E: ID_PATH_TAG=pci-0000_00_1f_1-ata-1
        E: ID_FS_VERSION=Joliet Extension
        E: ID_FS_LABEL=PHOTOS_2003
        E: ID_FS_LABEL_ENC=PHOTOS_2003
        E: ID_FS_TYPE=iso9660
        E: ID_FS_USAGE=filesystem
        E: ID_FS_UUID=2003-06-14-18-22-05-00
        E: ID_FS_UUID_ENC=2003-06-14-18-22-05-00
        E: ID_FS_APPLICATION_ID=NERO\\x20BURNING\\x20ROM
        E: ID_FOR_SEAT=block-pci-0000_00_1f_1-ata-1
        E: DEVLINKS=/dev/cdrom /dev/cdrw /dev/disk/by-label/PHOTOS_2003 /dev/disk/by-path/pci-0000:00:1f.1-ata-1 /dev/disk/by-uuid/2003-06-14-18-22-05-00
        E: TAGS=:seat:systemd:uaccess:
        E: CURRENT_TAGS=:seat:systemd:uaccess:
        """)

    /// A SATA DVD±RW writer (ata_id names it after its ATA IDENTIFY model,
    /// "HL-DT-ST DVD+/-RW GH50N", hence "DVD+_-RW") with a pressed DVD.
    static let dvdrw = device("sr0", generic: "/dev/sg1", vendor: "HL-DT-ST", model: "DVD+-RW GH50N   ", revision: "B103", """
        P: /devices/pci0000:00/0000:00:1f.2/ata2/host1/target1:0:0/1:0:0:0/block/sr0
        M: sr0
        U: block
        T: disk
        D: b 11:0
        N: sr0
        L: -100
        S: cdrom
        S: cdrw
        S: dvd
        S: dvdrw
        S: disk/by-id/ata-HL-DT-ST_DVD+_-RW_GH50N_K1Z98JH5025
        S: disk/by-label/HOLIDAY_2011
        S: disk/by-path/pci-0000:00:1f.2-ata-2
        Q: 7
        E: DEVPATH=/devices/pci0000:00/0000:00:1f.2/ata2/host1/target1:0:0/1:0:0:0/block/sr0
        E: DEVNAME=/dev/sr0
        E: DEVTYPE=disk
        E: DISKSEQ=7
        E: MAJOR=11
        E: MINOR=0
        E: SUBSYSTEM=block
        E: USEC_INITIALIZED=5206117
        E: ID_CDROM=1
        E: SYSTEMD_MOUNT_DEVICE_BOUND=1
        E: ID_CDROM_CD_R=1
        E: ID_CDROM_CD_RW=1
        E: ID_CDROM_DVD=1
        E: ID_CDROM_DVD_R=1
        E: ID_CDROM_DVD_RAM=1
        E: ID_CDROM_MRW=1
        E: ID_CDROM_MRW_W=1
        E: ID_CDROM_CD=1
        E: ID_CDROM_DVD_RW_RO=1
        E: ID_CDROM_DVD_RW_SEQ=1
        E: ID_CDROM_DVD_R_DL_SEQ=1
        E: ID_CDROM_DVD_R_DL_JR=1
        E: ID_CDROM_DVD_PLUS_RW=1
        E: ID_CDROM_DVD_PLUS_R=1
        E: ID_CDROM_DVD_PLUS_R_DL=1
        E: ID_CDROM_DVD_RW=1
        E: ID_CDROM_DVD_R_DL=1
        E: ID_CDROM_MEDIA=1
        E: ID_CDROM_MEDIA_DVD=1
        E: ID_CDROM_MEDIA_STATE=complete
        E: ID_CDROM_MEDIA_SESSION_COUNT=1
        E: ID_CDROM_MEDIA_TRACK_COUNT=1
        E: ID_CDROM_MEDIA_TRACK_COUNT_DATA=1
        E: ID_ATA=1
        E: ID_TYPE=cd
        E: ID_BUS=ata
        E: ID_MODEL=HL-DT-ST_DVD+_-RW_GH50N
        E: ID_MODEL_ENC=HL-DT-ST\\x20DVD+\\x2f-RW\\x20GH50N\\x20\\x20\\x20\\x20\\x20\\x20\\x20\\x20\\x20\\x20\\x20\\x20\\x20\\x20\\x20\\x20
        E: ID_REVISION=B103
        E: ID_SERIAL=HL-DT-ST_DVD+_-RW_GH50N_K1Z98JH5025
        E: ID_SERIAL_SHORT=K1Z98JH5025
        E: ID_ATA_SATA=1
        E: ID_ATA_SATA_SIGNAL_RATE_GEN1=1
        E: ID_ATA_FEATURE_SET_PM=1
        E: ID_ATA_FEATURE_SET_PM_ENABLED=1
        E: ID_PATH=pci-0000:00:1f.2-ata-2
        E: ID_PATH_TAG=pci-0000_00_1f_2-ata-2
        E: ID_FS_LABEL=HOLIDAY_2011
        E: ID_FS_LABEL_ENC=HOLIDAY_2011
        E: ID_FS_TYPE=udf
        E: ID_FS_USAGE=filesystem
        E: ID_FS_UUID=4ecd3a2b00000000
        E: ID_FS_UUID_ENC=4ecd3a2b00000000
        E: ID_FS_VERSION=1.02
        E: ID_FOR_SEAT=block-pci-0000_00_1f_2-ata-2
        E: DEVLINKS=/dev/cdrom /dev/cdrw /dev/dvd /dev/dvdrw /dev/disk/by-id/ata-HL-DT-ST_DVD+_-RW_GH50N_K1Z98JH5025 /dev/disk/by-label/HOLIDAY_2011 /dev/disk/by-path/pci-0000:00:1f.2-ata-2
        E: TAGS=:seat:systemd:uaccess:
        E: CURRENT_TAGS=:seat:systemd:uaccess:
        """)

    /// A BD writer in a USB enclosure (usb-storage), a blank BD-R in the tray.
    /// Its INQUIRY model has inner runs of spaces; the USB serial carries the
    /// instance (":") into ID_SERIAL.
    static let bdre = device("sr1", generic: "/dev/sg2", vendor: "PIONEER ", model: "BD-RW   BDR-209D", revision: "1.10", """
        P: /devices/pci0000:00/0000:00:14.0/usb2/2-2/2-2:1.0/host6/target6:0:0/6:0:0:0/block/sr1
        M: sr1
        U: block
        T: disk
        D: b 11:1
        N: sr1
        L: -100
        S: cdrom1
        S: cdrw1
        S: dvd1
        S: dvdrw1
        S: disk/by-id/usb-PIONEER_BD-RW_BDR-209D_20170331000C3-0:0
        S: disk/by-path/pci-0000:00:14.0-usb-0:2:1.0-scsi-0:0:0:0
        Q: 12
        E: DEVPATH=/devices/pci0000:00/0000:00:14.0/usb2/2-2/2-2:1.0/host6/target6:0:0/6:0:0:0/block/sr1
        E: DEVNAME=/dev/sr1
        E: DEVTYPE=disk
        E: DISKSEQ=12
        E: MAJOR=11
        E: MINOR=1
        E: SUBSYSTEM=block
        E: USEC_INITIALIZED=938847215
        E: ID_CDROM=1
        E: SYSTEMD_MOUNT_DEVICE_BOUND=1
        E: ID_CDROM_CD_R=1
        E: ID_CDROM_CD_RW=1
        E: ID_CDROM_DVD=1
        E: ID_CDROM_DVD_R=1
        E: ID_CDROM_DVD_RAM=1
        E: ID_CDROM_MRW=1
        E: ID_CDROM_MRW_W=1
        E: ID_CDROM_CD=1
        E: ID_CDROM_DVD_RW_RO=1
        E: ID_CDROM_DVD_RW_SEQ=1
        E: ID_CDROM_DVD_R_DL_SEQ=1
        E: ID_CDROM_DVD_R_DL_JR=1
        E: ID_CDROM_DVD_PLUS_RW=1
        E: ID_CDROM_DVD_PLUS_R=1
        E: ID_CDROM_DVD_PLUS_R_DL=1
        E: ID_CDROM_BD=1
        E: ID_CDROM_BD_R_SRM=1
        E: ID_CDROM_BD_R_RRM=1
        E: ID_CDROM_BD_RE=1
        E: ID_CDROM_DVD_RW=1
        E: ID_CDROM_DVD_R_DL=1
        E: ID_CDROM_BD_R=1
        E: ID_CDROM_MEDIA=1
        E: ID_CDROM_MEDIA_BD_R_SRM=1
        E: ID_CDROM_MEDIA_BD_R=1
        E: ID_CDROM_MEDIA_STATE=blank
        E: ID_VENDOR=PIONEER
        E: ID_VENDOR_ENC=PIONEER\\x20
        E: ID_VENDOR_ID=152d
        E: ID_MODEL=BD-RW_BDR-209D
        E: ID_MODEL_ENC=BD-RW\\x20\\x20\\x20BDR-209D
        E: ID_MODEL_ID=0578
        E: ID_REVISION=1.10
        E: ID_SERIAL=PIONEER_BD-RW_BDR-209D_20170331000C3-0:0
        E: ID_SERIAL_SHORT=20170331000C3
        E: ID_TYPE=cd
        E: ID_INSTANCE=0:0
        E: ID_BUS=usb
        E: ID_USB_INTERFACES=:080650:
        E: ID_USB_INTERFACE_NUM=00
        E: ID_USB_DRIVER=usb-storage
        E: ID_USB_VENDOR=PIONEER
        E: ID_USB_VENDOR_ENC=PIONEER\\x20
        E: ID_USB_VENDOR_ID=152d
        E: ID_USB_MODEL=BD-RW_BDR-209D
        E: ID_USB_MODEL_ENC=BD-RW\\x20\\x20\\x20BDR-209D
        E: ID_USB_MODEL_ID=0578
        E: ID_USB_REVISION=1.10
        E: ID_USB_SERIAL=PIONEER_BD-RW_BDR-209D_20170331000C3-0:0
        E: ID_USB_SERIAL_SHORT=20170331000C3
        E: ID_USB_TYPE=cd
        E: ID_USB_INSTANCE=0:0
        E: ID_PATH=pci-0000:00:14.0-usb-0:2:1.0-scsi-0:0:0:0
        E: ID_PATH_TAG=pci-0000_00_14_0-usb-0_2_1_0-scsi-0_0_0_0
        E: ID_FOR_SEAT=block-pci-0000_00_14_0-usb-0_2_1_0-scsi-0_0_0_0
        E: DEVLINKS=/dev/cdrom1 /dev/cdrw1 /dev/dvd1 /dev/dvdrw1 /dev/disk/by-id/usb-PIONEER_BD-RW_BDR-209D_20170331000C3-0:0 /dev/disk/by-path/pci-0000:00:14.0-usb-0:2:1.0-scsi-0:0:0:0
        E: TAGS=:seat:systemd:uaccess:
        E: CURRENT_TAGS=:seat:systemd:uaccess:
        """)

    /// A SATA DVD writer with an empty tray: no ID_CDROM_MEDIA at all.
    static let empty = device("sr0", generic: "/dev/sg1", vendor: "ASUS    ", model: "DRW-24D5MT      ", revision: "1.00", """
        P: /devices/pci0000:00/0000:00:17.0/ata3/host2/target2:0:0/2:0:0:0/block/sr0
        M: sr0
        U: block
        T: disk
        D: b 11:0
        N: sr0
        L: -100
        S: cdrom
        S: cdrw
        S: dvd
        S: dvdrw
        S: disk/by-id/ata-ASUS_DRW-24D5MT_KDDL3AE2113
        S: disk/by-path/pci-0000:00:17.0-ata-3
        Q: 5
        E: DEVPATH=/devices/pci0000:00/0000:00:17.0/ata3/host2/target2:0:0/2:0:0:0/block/sr0
        E: DEVNAME=/dev/sr0
        E: DEVTYPE=disk
        E: DISKSEQ=5
        E: MAJOR=11
        E: MINOR=0
        E: SUBSYSTEM=block
        E: USEC_INITIALIZED=3990412
        E: ID_CDROM=1
        E: SYSTEMD_MOUNT_DEVICE_BOUND=1
        E: ID_CDROM_CD_R=1
        E: ID_CDROM_CD_RW=1
        E: ID_CDROM_DVD=1
        E: ID_CDROM_DVD_R=1
        E: ID_CDROM_DVD_RAM=1
        E: ID_CDROM_MRW=1
        E: ID_CDROM_MRW_W=1
        E: ID_CDROM_CD=1
        E: ID_CDROM_DVD_RW_RO=1
        E: ID_CDROM_DVD_RW_SEQ=1
        E: ID_CDROM_DVD_R_DL_SEQ=1
        E: ID_CDROM_DVD_R_DL_JR=1
        E: ID_CDROM_DVD_PLUS_RW=1
        E: ID_CDROM_DVD_PLUS_R=1
        E: ID_CDROM_DVD_PLUS_R_DL=1
        E: ID_CDROM_DVD_RW=1
        E: ID_CDROM_DVD_R_DL=1
        E: ID_ATA=1
        E: ID_TYPE=cd
        E: ID_BUS=ata
        E: ID_MODEL=ASUS_DRW-24D5MT
        E: ID_MODEL_ENC=ASUS\\x20\\x20\\x20\\x20DRW-24D5MT\\x20\\x20\\x20\\x20\\x20\\x20\\x20\\x20\\x20\\x20\\x20\\x20\\x20\\x20\\x20\\x20\\x20\\x20\\x20\\x20\\x20\\x20\\x20\\x20\\x20\\x20
        E: ID_REVISION=1.00
        E: ID_SERIAL=ASUS_DRW-24D5MT_KDDL3AE2113
        E: ID_SERIAL_SHORT=KDDL3AE2113
        E: ID_ATA_SATA=1
        E: ID_ATA_SATA_SIGNAL_RATE_GEN1=1
        E: ID_PATH=pci-0000:00:17.0-ata-3
        E: ID_PATH_TAG=pci-0000_00_17_0-ata-3
        E: ID_FOR_SEAT=block-pci-0000_00_17_0-ata-3
        E: DEVLINKS=/dev/cdrom /dev/cdrw /dev/dvd /dev/dvdrw /dev/disk/by-id/ata-ASUS_DRW-24D5MT_KDDL3AE2113 /dev/disk/by-path/pci-0000:00:17.0-ata-3
        E: TAGS=:seat:systemd:uaccess:
        E: CURRENT_TAGS=:seat:systemd:uaccess:
        """)

    /// A SATA DVD writer holding a DVD+R with one closed session and room
    /// for more.
    static let appendable = device("sr0", generic: "/dev/sg1", vendor: "TSSTcorp", model: "CDDVDW SH-224DB ", revision: "SB00", """
        P: /devices/pci0000:00/0000:00:17.0/ata4/host3/target3:0:0/3:0:0:0/block/sr0
        M: sr0
        U: block
        T: disk
        D: b 11:0
        N: sr0
        L: -100
        S: cdrom
        S: cdrw
        S: dvd
        S: dvdrw
        S: disk/by-id/ata-TSSTcorp_CDDVDW_SH-224DB_R8RN6GBF402718
        S: disk/by-label/BACKUP_2024_03
        S: disk/by-path/pci-0000:00:17.0-ata-4
        S: disk/by-uuid/2024-03-02-21-14-37-00
        Q: 9
        E: DEVPATH=/devices/pci0000:00/0000:00:17.0/ata4/host3/target3:0:0/3:0:0:0/block/sr0
        E: DEVNAME=/dev/sr0
        E: DEVTYPE=disk
        E: DISKSEQ=9
        E: MAJOR=11
        E: MINOR=0
        E: SUBSYSTEM=block
        E: USEC_INITIALIZED=4402981
        E: ID_CDROM=1
        E: SYSTEMD_MOUNT_DEVICE_BOUND=1
        E: ID_CDROM_CD_R=1
        E: ID_CDROM_CD_RW=1
        E: ID_CDROM_DVD=1
        E: ID_CDROM_DVD_R=1
        E: ID_CDROM_DVD_RAM=1
        E: ID_CDROM_CD=1
        E: ID_CDROM_DVD_RW_RO=1
        E: ID_CDROM_DVD_RW_SEQ=1
        E: ID_CDROM_DVD_R_DL_SEQ=1
        E: ID_CDROM_DVD_R_DL_JR=1
        E: ID_CDROM_DVD_PLUS_RW=1
        E: ID_CDROM_DVD_PLUS_R=1
        E: ID_CDROM_DVD_PLUS_R_DL=1
        E: ID_CDROM_DVD_RW=1
        E: ID_CDROM_DVD_R_DL=1
        E: ID_CDROM_MEDIA=1
        E: ID_CDROM_MEDIA_DVD_PLUS_R=1
        E: ID_CDROM_MEDIA_STATE=appendable
        E: ID_CDROM_MEDIA_SESSION_NEXT=2
        E: ID_CDROM_MEDIA_SESSION_COUNT=1
        E: ID_CDROM_MEDIA_TRACK_COUNT=2
        E: ID_CDROM_MEDIA_TRACK_COUNT_DATA=1
        E: ID_ATA=1
        E: ID_TYPE=cd
        E: ID_BUS=ata
        E: ID_MODEL=TSSTcorp_CDDVDW_SH-224DB
        E: ID_MODEL_ENC=TSSTcorp\\x20CDDVDW\\x20SH-224DB\\x20\\x20\\x20\\x20\\x20\\x20\\x20\\x20\\x20\\x20\\x20\\x20\\x20\\x20\\x20\\x20
        E: ID_REVISION=SB00
        E: ID_SERIAL=TSSTcorp_CDDVDW_SH-224DB_R8RN6GBF402718
        E: ID_SERIAL_SHORT=R8RN6GBF402718
        E: ID_ATA_SATA=1
        E: ID_ATA_SATA_SIGNAL_RATE_GEN1=1
        E: ID_PATH=pci-0000:00:17.0-ata-4
        E: ID_PATH_TAG=pci-0000_00_17_0-ata-4
        E: ID_FS_VERSION=Joliet Extension
        E: ID_FS_LABEL=BACKUP_2024_03
        E: ID_FS_LABEL_ENC=BACKUP_2024_03
        E: ID_FS_TYPE=iso9660
        E: ID_FS_USAGE=filesystem
        E: ID_FS_UUID=2024-03-02-21-14-37-00
        E: ID_FS_UUID_ENC=2024-03-02-21-14-37-00
        E: ID_FS_APPLICATION_ID=GENISOIMAGE\\x20ISO\\x209660\\x2fHFS\\x20FILESYSTEM\\x20CREATOR
        E: ID_FOR_SEAT=block-pci-0000_00_17_0-ata-4
        E: DEVLINKS=/dev/cdrom /dev/cdrw /dev/dvd /dev/dvdrw /dev/disk/by-id/ata-TSSTcorp_CDDVDW_SH-224DB_R8RN6GBF402718 /dev/disk/by-label/BACKUP_2024_03 /dev/disk/by-path/pci-0000:00:17.0-ata-4 /dev/disk/by-uuid/2024-03-02-21-14-37-00
        E: TAGS=:seat:systemd:uaccess:
        E: CURRENT_TAGS=:seat:systemd:uaccess:
        """)

    /// The GH50N seen from a container without a udev database: libudev
    /// reports only the kernel's uevent properties and the device is not
    /// initialized; sysfs still has the INQUIRY strings and the SCSI type.
    static let uninitialized = BlockDevice(
        name: "sr0", node: "/dev/sr0",
        properties: udevProperties("""
            E: DEVPATH=/devices/pci0000:00/0000:00:1f.2/ata2/host1/target1:0:0/1:0:0:0/block/sr0
            E: SUBSYSTEM=block
            E: DEVNAME=/dev/sr0
            E: DEVTYPE=disk
            E: DISKSEQ=7
            E: MAJOR=11
            E: MINOR=0
            """),
        isInitialized: false, scsiType: 5,
        vendor: "HL-DT-ST", model: "DVD+-RW GH50N   ", revision: "B103", genericNode: "/dev/sg1")

    /// A loop device taken with `--match`: udev has processed it, it is no
    /// optical drive, and it has neither serial nor path.
    static let loop = BlockDevice(
        name: "loop201", node: "/dev/loop201",
        properties: udevProperties("""
            E: DEVPATH=/devices/virtual/block/loop201
            E: DEVNAME=/dev/loop201
            E: DEVTYPE=disk
            E: DISKSEQ=215
            E: MAJOR=7
            E: MINOR=201
            E: SUBSYSTEM=block
            E: USEC_INITIALIZED=1208331977
            E: ID_FS_TYPE=ext2
            E: ID_FS_USAGE=filesystem
            E: TAGS=:systemd:
            E: CURRENT_TAGS=:systemd:
            """),
        isInitialized: true)

    static func device(_ name: String, generic: String, vendor: String, model: String, revision: String,
                       _ recording: String) -> BlockDevice {
        BlockDevice(name: name, node: "/dev/\(name)", properties: udevProperties(recording), isInitialized: true,
                    scsiType: 5, vendor: vendor, model: model, revision: revision, genericNode: generic)
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
