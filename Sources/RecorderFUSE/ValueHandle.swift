#if canImport(Glibc)
import Glibc
#endif
import CFuseShim
import Logging
import RecorderCore
import RequestLoop
import Synchronization

/// One open of a value file. The value is read anew at offset 0; only when
/// a read leaves part of it unread is it kept, for the reads at later
/// offsets, so a value read in pieces is never torn and a handle read whole
/// costs its few fixed bytes.
final class ValueHandle: Sendable {
    /// The uid whose usage the handle counts in.
    private let uid: UInt32
    private let limits: UsageLimits
    private let rest = Mutex<[UInt8]?>(nil)
    /// For poll(2): the recorder's change count at open, and a hash of
    /// what the last read from offset 0 showed.
    private let seen: Mutex<(changes: UInt64, hash: UInt64?)>

    init(uid: UInt32, limits: UsageLimits, changes: UInt64) {
        self.uid = uid
        self.limits = limits
        seen = Mutex((changes, nil))
    }

    /// Whether the value is not what the handle last read (or, before its
    /// first read, whether the recorder changed since the open).
    func changed(since changes: UInt64, content: () throws(RecorderError) -> [UInt8]) -> Bool {
        let (openChanges, hash) = seen.withLock { $0 }
        guard let hash else { return changes != openChanges }
        guard let now = try? content() else { return true }
        return Self.hash(now) != hash
    }

    /// FNV-1a.
    static func hash(_ bytes: [UInt8]) -> UInt64 {
        bytes.reduce(0xcbf2_9ce4_8422_2325 as UInt64) { ($0 ^ UInt64($1)) &* 0x100_0000_01b3 }
    }

    /// FUSE RELEASE: the handle no longer counts.
    func closed() {
        limits.closeHandle(uid: uid)
    }

    func read(at offset: Int, count: Int, refresh: () throws(RecorderError) -> [UInt8]) throws(RecorderError) -> ArraySlice<UInt8> {
        let bytes = try rest.withLock { (kept) throws(RecorderError) -> [UInt8] in
            let fresh = offset == 0 || kept == nil
            let bytes = fresh ? try refresh() : kept!
            kept = offset + count < bytes.count ? bytes : nil
            if fresh { seen.withLock { $0.hash = Self.hash(bytes) } }
            return bytes
        }
        let start = min(offset, bytes.count)
        return bytes[start..<min(start + count, bytes.count)]
    }
}
