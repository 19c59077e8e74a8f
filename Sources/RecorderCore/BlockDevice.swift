/// What udev, or sysfs where udev has no database, says about one block
/// device. Plain data, so the rules that read it are tested with recorded
/// property sets of real drives.
public struct BlockDevice: Equatable, Sendable {
    /// The kernel name, e.g. sr0.
    public var name: String
    /// The device node, e.g. /dev/sr0.
    public var node: String
    /// "disk" or "partition".
    public var type: String
    /// udev's properties (ID_CDROM, ID_SERIAL, …); only the kernel's when
    /// udev has not processed the device.
    public var properties: [String: String]
    /// Whether udev has processed the device (its database has it).
    public var isInitialized: Bool
    /// The SCSI peripheral type from sysfs (5 for CD/DVD/BD drives).
    public var scsiType: Int?
    /// The INQUIRY strings from sysfs, untrimmed.
    public var vendor: String?
    public var model: String?
    public var revision: String?
    /// The SCSI generic node of the same drive, e.g. /dev/sg0.
    public var genericNode: String?

    public init(name: String, node: String, type: String = "disk", properties: [String: String] = [:],
                isInitialized: Bool = false, scsiType: Int? = nil, vendor: String? = nil, model: String? = nil,
                revision: String? = nil, genericNode: String? = nil) {
        self.name = name
        self.node = node
        self.type = type
        self.properties = properties
        self.isInitialized = isInitialized
        self.scsiType = scsiType
        self.vendor = vendor
        self.model = model
        self.revision = revision
        self.genericNode = genericNode
    }

    /// Whether this is an optical drive: udev's ID_CDROM=1 where udev has
    /// processed it, else a SCSI device of type 5 (docs/design.md §7).
    public var isOpticalDrive: Bool {
        guard type == "disk" else { return false }
        if isInitialized { return properties["ID_CDROM"] == "1" }
        return scsiType == 5
    }
}

/// The device information files of a recorder (issue B), derived from a
/// `BlockDevice`. Each value is nil when unknown.
public struct DriveDescription: Equatable, Sendable {
    public var vendor: String?
    public var model: String?
    public var revision: String?
    public var serial: String?
    /// Capability flags from ID_CDROM_*, e.g. ["cd_r", "cd_rw", "dvd_r"].
    public var capabilities: [String]?
    /// blank, appendable, complete or none.
    public var media: String?
    public var genericNode: String?
    /// The name under by-id/: ID_SERIAL, else ID_PATH, made file-name safe.
    public var stableID: String?

    public init() {}

    /// The ID_CDROM_* flags that are capabilities, in the order drives list
    /// them (read formats before write formats, CD before DVD before BD).
    static let capabilityOrder = [
        "cd", "cd_r", "cd_rw", "dvd", "dvd_r", "dvd_rw", "dvd_ram", "dvd_r_dl", "dvd_r_dl_seq", "dvd_r_dl_jr",
        "dvd_plus_r", "dvd_plus_rw", "dvd_plus_r_dl", "dvd_plus_rw_dl", "bd", "bd_r", "bd_r_srm", "bd_r_rrm", "bd_re",
        "hddvd", "hddvd_r", "hddvd_rw", "mo", "mrw", "mrw_w",
    ]

    public init(_ device: BlockDevice) {
        let properties = device.properties
        vendor = Self.trimmed(device.vendor) ?? Self.trimmed(properties["ID_VENDOR"])
        model = Self.trimmed(device.model) ?? Self.trimmed(properties["ID_MODEL"])
        revision = Self.trimmed(device.revision) ?? Self.trimmed(properties["ID_REVISION"])
        serial = Self.trimmed(properties["ID_SERIAL_SHORT"]) ?? Self.trimmed(properties["ID_SCSI_SERIAL"])
        genericNode = device.genericNode
        if device.isInitialized && properties["ID_CDROM"] == "1" {
            let flags = properties.compactMap { key, value -> String? in
                guard value == "1", key.hasPrefix("ID_CDROM_"), !key.hasPrefix("ID_CDROM_MEDIA") else { return nil }
                return key.dropFirst("ID_CDROM_".count).lowercased()
            }
            capabilities = flags.sorted { a, b in
                let (ia, ib) = (Self.capabilityOrder.firstIndex(of: a), Self.capabilityOrder.firstIndex(of: b))
                switch (ia, ib) {
                case let (ia?, ib?): return ia < ib
                case (.some, nil): return true
                case (nil, .some): return false
                case (nil, nil): return a < b
                }
            }
            if properties["ID_CDROM_MEDIA"] == "1" {
                media = properties["ID_CDROM_MEDIA_STATE"] ?? "complete"
            } else {
                media = "none"
            }
        }
        stableID = Self.fileNameSafe(properties["ID_SERIAL"]) ?? Self.fileNameSafe(properties["ID_PATH"])
    }

    static func trimmed(_ text: String?) -> String? {
        guard let text else { return nil }
        let trimmed = text.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" }).joined(separator: " ")
        return trimmed.isEmpty ? nil : trimmed
    }

    /// udev's ID_SERIAL is already mostly safe; anything that could not be a
    /// plain file name becomes "_".
    static func fileNameSafe(_ text: String?) -> String? {
        guard let text, !text.isEmpty else { return nil }
        let safe = String(decoding: text.utf8.prefix(200).map { byte -> UInt8 in
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."),
                 UInt8(ascii: ":"), UInt8(ascii: "+"):
                byte
            default:
                UInt8(ascii: "_")
            }
        }, as: UTF8.self)
        return safe == "." || safe == ".." ? nil : safe
    }
}
