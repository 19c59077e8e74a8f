import CFuseShim

/// An inode number of the tree.
///
/// The tree is static per recorder: the root is 1, recorder slot `s` has the
/// directory `(s + 1) << 4` and its files `(s + 1) << 4 | (file + 1)`, so
/// every lookup is arithmetic, never a search.
struct Inode: Hashable, Sendable {
    var rawValue: fuse_ino_t

    static let root = Inode(rawValue: fuse_ino_t(FUSE_ROOT_ID))

    init(rawValue: fuse_ino_t) { self.rawValue = rawValue }

    init(directoryOf slot: Int) { rawValue = fuse_ino_t(slot + 1) << 4 }

    init(file: RecorderFile, of slot: Int) {
        rawValue = fuse_ino_t(slot + 1) << 4 | fuse_ino_t(file.rawValue + 1)
    }

    /// What this inode is, if it can exist.
    var node: Node? {
        if self == .root { return .root }
        let slot = Int(rawValue >> 4) - 1
        guard slot >= 0 else { return nil }
        let low = Int(rawValue & 0xF)
        if low == 0 { return .directory(slot: slot) }
        guard let file = RecorderFile(rawValue: low - 1) else { return nil }
        return .file(file, slot: slot)
    }
}

/// A node of the tree.
enum Node: Equatable {
    case root
    case directory(slot: Int)
    case file(RecorderFile, slot: Int)
}

/// The files of a recorder directory (DESIGN §1).
enum RecorderFile: Int, CaseIterable, Sendable {
    case owner, lockcount, acquire, acquireForce, release, device

    var name: String {
        switch self {
        case .owner: "owner"
        case .lockcount: "lockcount"
        case .acquire: "acquire"
        case .acquireForce: "acquire_force"
        case .release: "release"
        case .device: "device"
        }
    }

    static let byName: [String: RecorderFile] = Dictionary(uniqueKeysWithValues: allCases.map { ($0.name, $0) })

    /// Control files are written, value files are read.
    var isControl: Bool {
        switch self {
        case .acquire, .acquireForce, .release: true
        case .owner, .lockcount, .device: false
        }
    }

    /// Opens of this file own locks.
    var takesLocks: Bool { self == .acquire || self == .acquireForce }
}
