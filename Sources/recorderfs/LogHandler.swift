#if canImport(Glibc)
import Glibc
#endif
import Logging
import Synchronization

/// Where the daemon's log goes: stderr, or syslog once a background daemon
/// is ready (it then lets go of the terminal, or of the pipe it was started
/// with, so that `recorderfs mount --daemon | tail` ends).
final class LogDestination: Sendable {
    static let shared = LogDestination()
    private let useSyslog = Atomic<Bool>(false)
    /// stderr is systemd's journal stream: no timestamps of our own, and a
    /// `<N>` priority prefix on each line (the sd-daemon convention).
    let journal = JournalStream.isStandardError()
    /// openlog(3) keeps this pointer: a C string that lives as long as the
    /// process. nonisolated(unsafe): an immutable pointer, never written.
    private nonisolated(unsafe) static let ident = strdup("recorderfs")

    /// From now on, log to syslog (facility daemon, ident recorderfs).
    func switchToSyslog() {
        // openlog keeps the pointer, not the text: an ident that lives as
        // long as the process (a Swift string literal passed directly is a
        // temporary, and messages went out with no name).
        openlog(Self.ident, LOG_PID, LOG_DAEMON)
        useSyslog.store(true, ordering: .releasing)
    }

    func write(_ level: Logger.Level, _ line: String) {
        if useSyslog.load(ordering: .acquiring) {
            line.withCString { withVaList([$0]) { vsyslog(Self.priority(level), "%s", $0) } }
        } else {
            let text = journal ? "<\(Self.priority(level))>\(line)\n" : "\(Self.timestamp()) \(level) \(line)\n"
            _ = text.withCString { Glibc.write(STDERR_FILENO, $0, strlen($0)) }
        }
    }

    static func priority(_ level: Logger.Level) -> Int32 {
        switch level {
        case .trace, .debug: LOG_DEBUG
        case .info: LOG_INFO
        case .notice: LOG_NOTICE
        case .warning: LOG_WARNING
        case .error: LOG_ERR
        case .critical: LOG_CRIT
        }
    }

    static func timestamp() -> String {
        var now = time(nil)
        var parts = tm()
        localtime_r(&now, &parts)
        var buffer = [CChar](repeating: 0, count: 32)
        let count = strftime(&buffer, buffer.count, "%Y-%m-%dT%H:%M:%S%z", &parts)
        return String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// A swift-log handler writing `LABEL: key=value … message` lines to the
/// `LogDestination`, values quoted as logfmt does (`key="a value"`).
struct DaemonLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level = .notice
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var all = metadata
        if let extra = event.metadata { all.merge(extra) { $1 } }
        let fields = all.sorted { $0.key < $1.key }.map { "\($0.key)=\(logfmtValue("\($0.value)"))" }.joined(separator: " ")
        LogDestination.shared.write(event.level, "\(label): \(fields.isEmpty ? "" : fields + " ")\(event.message)")
    }
}
