#if canImport(Glibc)
import Glibc
#endif
import Logging
import Synchronization

/// How a recorder claims its drive and how long it waits.
public struct RecorderOptions: Sendable {
    /// Keep an O_EXCL descriptor while locked (`mount --exclusive`).
    public var exclusive: Bool
    /// The deadline of a call into the drive.
    public var timeout: Duration
    /// What the serving thread does before it blocks.
    public var hooks: BlockingHooks

    public init(exclusive: Bool = false, timeout: Duration = .seconds(5), hooks: BlockingHooks = .none) {
        self.exclusive = exclusive
        self.timeout = timeout
        self.hooks = hooks
    }

    /// The timeout in nanoseconds, for the deadlines of the hot path.
    var timeoutNanoseconds: Int64 { timeout.nanoseconds }
}

/// Who holds a recorder: the client name and the uid that took the first lock.
public struct Holder: Equatable, Sendable {
    public var name: ClientName
    public var uid: UInt32
}

/// What `owner`, `lockcount` and `generation` show.
public struct RecorderSnapshot: Equatable, Sendable {
    public var holder: Holder?
    public var lockCount: Int
    /// The fencing token: the recorder's generation base plus how many
    /// times it went from free to locked since it was made.
    public var generation: UInt64 = 0
}

/// One handle that holds locks, as `holders` shows it.
public struct HandleRecord: Equatable, Sendable {
    public var name: ClientName
    /// The process that took the handle's first lock.
    public var pid: Int32
    public var uid: UInt32
    public var count: Int
    /// When the handle took its first lock (CLOCK_REALTIME, seconds).
    public var since: Int
}

/// Where a recorder is between free and locked, as the `state` file shows it.
public enum ClaimState: Equatable, Sendable {
    case free
    /// The drive is being claimed for a write, since `since` (CLOCK_REALTIME
    /// seconds); `waitingFor` names the program it waits for, once it has
    /// waited a moment ("flock held by pid 1234 (python3)").
    case claiming(since: Int, waitingFor: String?)
    case locked
    /// The drive is being let go (or a claim undone).
    case releasing
    /// The recorder went away.
    case gone

    /// The first word of the `state` file.
    public var word: String {
        switch self {
        case .free: "free"
        case .claiming: "claiming"
        case .locked: "locked"
        case .releasing: "releasing"
        case .gone: "gone"
        }
    }

    /// The `state` file's line, without its newline: the word, then for
    /// `claiming` "since TIME" and whom it waits for:
    /// "claiming since 2026-12-02T01:30:00Z, waiting for flock held by pid 1234 (python3)".
    public var line: String {
        guard case .claiming(let since, let waitingFor) = self else { return word }
        return "claiming since \(HandleRecord.rfc3339(since))" + (waitingFor.map { ", waiting for \($0)" } ?? "")
    }

    /// Parses `line`; nil when it is not one.
    public init?<Line: StringProtocol>(line text: Line) {
        var text = Substring(text)
        if text.hasSuffix("\n") { text = text.dropLast() }
        switch text {
        case "free": self = .free
        case "locked": self = .locked
        case "releasing": self = .releasing
        case "gone": self = .gone
        default:
            guard text.hasPrefix("claiming since ") else { return nil }
            let rest = text.dropFirst("claiming since ".count)
            let time = rest.prefix { $0 != "," }
            guard let since = HandleRecord.seconds(rfc3339: time) else { return nil }
            let after = rest.dropFirst(time.count)
            guard after.isEmpty || after.hasPrefix(", waiting for ") else { return nil }
            self = .claiming(since: since, waitingFor: after.isEmpty ? nil : String(after.dropFirst(", waiting for ".count)))
        }
    }
}
