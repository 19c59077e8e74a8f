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
    /// A device that refuses the attribute is remembered, and never asked again.
    @discardableResult
    public func pause() -> Outcome {
        if unsupported.load(ordering: .relaxed) { return .nothingToPause }
        return paused.withLock { paused -> Outcome in
            guard paused == nil else { return .nothingToPause }
            guard let current = try? readFile(attribute) else {
                unsupported.store(true, ordering: .relaxed)
                return .nothingToPause
            }
            var interval = current.trimmingNewline
            guard Int(interval) != nil, interval != "0" else { return .nothingToPause }
            var held: Int32?
            if let record {
                makeDirectories(String(record[..<record.lastIndex(of: "/")!]))
                let descriptor = open(record, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
                if descriptor >= 0 {
                    guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
                        close(descriptor)
                        return .pausedElsewhere
                    }
                    held = descriptor
                    if let left = (try? readFile(record)).flatMap(Self.parse), left.attribute == attribute {
                        // A record a killed daemon left: its interval is the one to restore.
                        interval = left.interval
                    } else {
                        let text = Array("\(attribute)\n\(interval)\n".utf8)
                        let written = text.withUnsafeBytes { pwrite(descriptor, $0.baseAddress, $0.count, 0) }
                        if written != text.count {
                            let reason = "cannot write \(record): \(String(cString: strerror(errno)))"
                            drop(held)
                            return .failed(reason)
                        }
                    }
                }
            }
            do {
                try writeFile(attribute, "0\n")
            } catch {
                drop(held)
                switch error {
                case .operationNotSupportedByDevice, .invalidArgument, .noSuchFileOrDirectory, .permissionDenied, .notPermitted,
                     .readOnlyFileSystem:
                    unsupported.store(true, ordering: .relaxed)
                    return .nothingToPause
                default:
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

    /// Restores the intervals that daemons which are gone left in `records`
    /// (records flock'ed by a live daemon are left alone). Returns the
    /// attributes restored.
    @discardableResult
    public static func restoreLeftovers(in records: String = recordDirectory) -> [String] {
        guard let directory = opendir(records) else { return [] }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name != "." && name != ".." { names.append(name) }
        }
        closedir(directory)
        var restored: [String] = []
        for name in names {
            let path = "\(records)/\(name)"
            let descriptor = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW)
            guard descriptor >= 0 else { continue }
            defer { close(descriptor) }
            guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else { continue }
            // Only a record whose name matches its attribute: nothing else is ever written to.
            if let entry = (try? readFile(path)).flatMap(parse), recordName(entry.attribute) == name,
               entry.attribute.hasSuffix("/events_poll_msecs") {
                if (try? writeFile(entry.attribute, entry.interval + "\n")) != nil { restored.append(entry.attribute) }
            }
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
