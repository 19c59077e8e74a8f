#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import SystemPackage

/// The kernel's polling of a drive's medium (`events_poll_msecs` of the
/// block device in sysfs), paused while the recorder is locked: udisks and
/// the desktop react to every media event, and a burn wants none
/// (docs/design.md §4, "The drive kept quiet").
///
/// The interval it had is written to a record file under /run/recorderfs,
/// flock'ed for as long as the pause lasts: a daemon that starts finds the
/// records of killed daemons unlocked and restores them (`restoreLeftovers`);
/// a record locked by a live daemon is left alone, and that drive is not
/// paused twice.
public final class MediaPolling: Sendable {
    /// The sysfs attribute, e.g. /sys/dev/block/11:0/events_poll_msecs.
    public let attribute: String
    /// The record file; nil when no record is kept.
    let record: String?
    private let paused = Mutex<Paused?>(nil)
    /// The device refused the attribute once (a loop device answers ENODEV).
    private let unsupported = Atomic<Bool>(false)

    struct Paused {
        /// What to write back.
        var interval: String
        /// The record file, open and flock'ed.
        var record: Int32?
    }

    /// What `pause` did.
    public enum Outcome: Equatable, Sendable {
        /// Polling was off from `interval` (in milliseconds, as sysfs shows it).
        case paused(String)
        /// The device is not polled, or refuses the attribute (a loop device
        /// answers ENODEV), or it was paused already.
        case nothingToPause
        /// Another live daemon keeps this drive's polling paused.
        case pausedElsewhere
        /// The attribute could not be written.
        case failed(String)
    }

    /// The directory where records are kept by default.
    public static let recordDirectory = "/run/recorderfs/polling"

    /// `directory` is the block device's directory in sysfs
    /// (SYSFS/dev/block/MAJOR:MINOR); `records` the directory of the
    /// record files, nil for none.
    public init(directory: String, records: String? = MediaPolling.recordDirectory) {
        let attribute = directory + "/events_poll_msecs"
        self.attribute = attribute
        record = records.map { "\($0)/\(Self.recordName(attribute))" }
    }

    /// The name of the record of `attribute`: the path with "/" as "_".
    static func recordName(_ attribute: String) -> String {
        String(attribute.map { $0 == "/" ? "_" : $0 })
    }

    /// Turns polling off (writes 0), once the interval it had is recorded.
    /// A device that refuses the attribute is remembered, and never asked
    /// again. A record a killed daemon left for this attribute is adopted:
    /// its interval is the one to write back.
    @discardableResult
    public func pause() -> Outcome {
        if unsupported.load(ordering: .relaxed) { return .nothingToPause }
        return paused.withLock { paused -> Outcome in
            guard paused == nil else { return .nothingToPause }
            guard let current = Self.read(attribute) else {
                unsupported.store(true, ordering: .relaxed)
                return .nothingToPause
            }
            guard Int(current) != nil else { return .nothingToPause }
            var interval = current
            var held: Int32?
            if let record {
                makeDirectories(String(record[..<record.lastIndex(of: "/")!]))
                switch Self.lock(record: record, create: current != "0") {
                case .busy:
                    return .pausedElsewhere
                case .unavailable:
                    break
                case .held(let descriptor):
                    held = descriptor
                    if let left = readAll(descriptor).flatMap(Self.parse), left.attribute == attribute {
                        interval = left.interval
                    } else if current == "0" {
                        drop(held)
                        return .nothingToPause
                    } else {
                        let text = Array("\(attribute)\n\(interval)\n".utf8)
                        let written = text.withUnsafeBytes { pwrite(descriptor, $0.baseAddress, $0.count, 0) }
                        if written != text.count {
                            let reason = "cannot write \(record): \(String(cString: strerror(errno)))"
                            drop(held)
                            return .failed(reason)
                        }
                        ftruncate(descriptor, off_t(text.count))
                    }
                }
            }
            if interval == "0" {
                drop(held)
                return .nothingToPause
            }
            do {
                try writeFile(attribute, "0\n")
            } catch {
                switch error {
                case .operationNotSupportedByDevice, .invalidArgument, .noSuchFileOrDirectory, .permissionDenied,
                     .notPermitted, .readOnlyFileSystem, .tooManySymbolicLinkLevels:
                    // Refused for good; a leftover record keeps its interval for a later daemon.
                    if held != nil, current == "0" { close(held!) } else { drop(held) }
                    unsupported.store(true, ordering: .relaxed)
                    return .nothingToPause
                default:
                    drop(held)
                    return .failed("cannot write \(attribute): \(error)")
                }
            }
            paused = Paused(interval: interval, record: held)
            return .paused(interval)
        }
    }

    /// Removes the record and lets it go.
    private func drop(_ held: Int32?) {
        guard let held, let record else { return }
        // Unlinked before it is unlocked: no daemon restores it after us.
        unlink(record)
        close(held)
    }

    /// Writes back the interval `pause` found, and drops the record.
    public func resume() {
        guard let was = paused.withLock({ paused in defer { paused = nil }; return paused }) else { return }
        try? writeFile(attribute, was.interval + "\n")
        drop(was.record)
    }

    /// Whether polling is paused by this daemon now.
    public var isPaused: Bool { paused.withLock { $0 != nil } }

    /// The attribute's value without its newline; nil when it cannot be read
    /// (a symlink, a FIFO or anything but a regular file is not read).
    static func read(_ path: String) -> String? {
        guard let descriptor = try? openRegularFile(path, O_RDONLY) else { return nil }
        defer { close(descriptor) }
        return readAll(descriptor)?.trimmingNewline
    }

    enum RecordLock {
        /// Open and flock'ed, and still the file the path names.
        case held(Int32)
        /// A live daemon holds it (or it changed under us).
        case busy
        /// Not there, or not a regular file.
        case unavailable
    }

    /// Opens and flocks a record, the lock-file way: after the flock the
    /// path must still name the same file (a daemon that resumed may have
    /// unlinked it, and another made a new one at the same path).
    static func lock(record path: String, create: Bool) -> RecordLock {
        guard let descriptor = try? openRegularFile(path, O_RDWR | (create ? O_CREAT : 0), mode: 0o600) else {
            return .unavailable
        }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            close(descriptor)
            return .busy
        }
        var named = stat()
        guard let locked = FileStatus(descriptor: descriptor), lstat(path, &named) == 0,
              UInt64(named.st_dev) == locked.device, UInt64(named.st_ino) == locked.inode else {
            close(descriptor)
            return .busy
        }
        return .held(descriptor)
    }

    /// Restores the intervals that daemons which are gone left in `records`
    /// for attributes under `sysfs` (records flock'ed by a live daemon, and
    /// those of other sysfs roots, are left alone). Returns the attributes
    /// restored.
    @discardableResult
    public static func restoreLeftovers(in records: String = recordDirectory, sysfs: String = "/sys") -> [String] {
        guard let directory = opendir(records) else { return [] }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name != "." && name != ".." { names.append(name) }
        }
        closedir(directory)
        let root = (sysfs.hasSuffix("/") ? String(sysfs.dropLast()) : sysfs) + "/dev/block/"
        var restored: [String] = []
        for name in names {
            let path = "\(records)/\(name)"
            guard case .held(let descriptor) = lock(record: path, create: false) else { continue }
            defer { close(descriptor) }
            // Only a record whose name is its attribute's, an events_poll_msecs under this sysfs.
            // Only a record whose name is its attribute's, an events_poll_msecs;
            // anything else there is no record, and goes.
            guard let entry = readAll(descriptor).flatMap(parse), recordName(entry.attribute) == name,
                  entry.attribute.hasSuffix("/events_poll_msecs"), !entry.attribute.split(separator: "/").contains("..") else {
                unlink(path)
                continue
            }
            // Another sysfs root's (a test's) waits for a daemon of that root.
            guard entry.attribute.hasPrefix(root) else { continue }
            if (try? writeFile(entry.attribute, entry.interval + "\n")) != nil { restored.append(entry.attribute) }
            unlink(path)
        }
        return restored
    }

    /// "ATTRIBUTE\nINTERVAL\n", the interval an integer.
    static func parse(_ text: String) -> (attribute: String, interval: String)? {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        guard lines.count >= 2, lines[0].hasPrefix("/"), Int(lines[1]) != nil else { return nil }
        return (String(lines[0]), String(lines[1]))
    }
}

/// mkdir -p, mode 0755; errors are left to the open that follows.
func makeDirectories(_ path: String) {
    var prefix = ""
    for component in path.split(separator: "/") {
        prefix += "/" + component
        mkdir(prefix, 0o755)
    }
}

extension String {
    /// The text without one trailing newline.
    var trimmingNewline: String {
        hasSuffix("\n") ? String(dropLast()) : self
    }
}
