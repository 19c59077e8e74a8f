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
