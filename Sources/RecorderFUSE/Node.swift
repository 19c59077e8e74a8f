import CFuseShim

/// An inode number of the tree.
///
/// The numbering is arithmetic, so every lookup is O(1): the root is 1,
/// `by-id` is 2, recorder slot `s` has the directory `(s + 1) << 5`, its files
/// `(s + 1) << 5 | (file + 1)` and its by-id link `(s + 1) << 5 | 31`. Slots
/// are never reused, so an inode never names two recorders.
struct Inode: Hashable, Sendable {
    var rawValue: fuse_ino_t

    static let root = Inode(rawValue: fuse_ino_t(FUSE_ROOT_ID))
    static let byID = Inode(rawValue: 2)
    static let events = Inode(rawValue: 3)
    private static let shift: fuse_ino_t = 5
    private static let linkCode: fuse_ino_t = 31

    init(rawValue: fuse_ino_t) { self.rawValue = rawValue }

    init(directoryOf slot: Int) { rawValue = fuse_ino_t(slot + 1) << Self.shift }

    init(file: RecorderFile, of slot: Int) {
        rawValue = fuse_ino_t(slot + 1) << Self.shift | fuse_ino_t(file.rawValue + 1)
    }

    init(linkOf slot: Int) { rawValue = fuse_ino_t(slot + 1) << Self.shift | Self.linkCode }

    /// The recorder slot of a directory, file or link.
    var slot: Int { Int(rawValue >> Self.shift) - 1 }

    /// What this inode is, if it can exist.
    var node: Node? {
        if self == .root { return .root }
        if self == .byID { return .byID }
        if self == .events { return .events }
        let slot = Int(rawValue >> Self.shift) - 1
        guard slot >= 0 else { return nil }
        let low = rawValue & ((1 << Self.shift) - 1)
        if low == 0 { return .directory(slot: slot) }
        if low == Self.linkCode { return .link(slot: slot) }
        guard let file = RecorderFile(rawValue: Int(low) - 1) else { return nil }
        return .file(file, slot: slot)
    }
}

/// A node of the tree.
enum Node: Equatable {
    case root
    case byID
    /// MOUNT/events
    case events
    case directory(slot: Int)
    case file(RecorderFile, slot: Int)
    /// by-id/ID → ../NAME
    case link(slot: Int)
}

/// The files of a recorder directory: the five of docs/design.md §1, then the
/// device information.
enum RecorderFile: Int, CaseIterable, Sendable {
    case owner, lockcount, acquire, acquireForce, release
    case device, vendor, model, revision, serial, capabilities, media, sg, volumes
    case holders, generation, eject, closetray
    case acquireWait
    case state

    var name: String {
        switch self {
        case .owner: "owner"
        case .lockcount: "lockcount"
        case .acquire: "acquire"
        case .acquireForce: "acquire_force"
        case .release: "release"
        case .device: "device"
        case .vendor: "vendor"
        case .model: "model"
        case .revision: "revision"
        case .serial: "serial"
        case .capabilities: "capabilities"
        case .media: "media"
        case .sg: "sg"
        case .volumes: "volumes"
        case .holders: "holders"
        case .generation: "generation"
        case .eject: "eject"
        case .closetray: "closetray"
        case .acquireWait: "acquire_wait"
        case .state: "state"
        }
    }

    static let byName: [String: RecorderFile] = Dictionary(uniqueKeysWithValues: allCases.map { ($0.name, $0) })

    /// Control files are written, value files are read.
    @inline(__always)
    var isControl: Bool {
        switch self {
        case .acquire, .acquireForce, .acquireWait, .release, .eject, .closetray: true
        default: false
        }
    }

    /// Opens of this file own locks.
    @inline(__always)
    var takesLocks: Bool { self == .acquire || self == .acquireForce || self == .acquireWait }

    /// A write waits for its turn instead of answering EBUSY.
    @inline(__always)
    var waits: Bool { self == .acquireWait }

    /// poll(2) tells when the value changes.
    var isPollable: Bool { self == .owner || self == .lockcount || self == .holders || self == .generation }
}
