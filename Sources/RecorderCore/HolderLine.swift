#if canImport(Glibc)
import Glibc
#endif

/// A line of a recorder's `holders` file, one per handle that holds locks:
///
///     NAME pid=PID uid=UID count=N since=2026-11-25T15:02:51Z
///
/// The one formatter (the tree writes it) and the one parser (`recorderfs
/// status` and `hold` read it). A name may hold spaces, even several in a
/// row, but never `=`, so the first ` pid=` ends it.
extension HandleRecord {
    /// The line, without its newline.
    /// pid 0 stands for a holder the reader cannot see (outside its pid
    /// namespace), shown as `pid=-`.
    public var line: String {
        "\(name) pid=\(pid == 0 ? "-" : String(pid)) uid=\(uid) count=\(count) since=\(Self.rfc3339(since))"
    }

    /// Parses a line as `line` writes it (one trailing newline allowed);
    /// nil when it is not one.
    public init?<Line: StringProtocol>(line text: Line) {
        var text = Substring(text)
        if text.hasSuffix("\n") { text = text.dropLast() }
        guard let separator = text.firstRange(ofBytes: " pid=") else { return nil }
        guard let name = try? ClientName(String(text[..<separator.lowerBound])) else { return nil }
        let fields = text[text.index(after: separator.lowerBound)...].split(separator: " ", omittingEmptySubsequences: false)
        guard fields.count == 4 else { return nil }
        func field(_ key: String, _ index: Int) -> Substring? {
            let field = fields[index]
            return field.hasPrefix(key + "=") ? field.dropFirst(key.count + 1) : nil
        }
        guard let pid = field("pid", 0).flatMap({ $0 == "-" ? 0 : Int32($0) }),
              let uid = field("uid", 1).flatMap({ UInt32($0) }),
              let count = field("count", 2).flatMap({ Int($0) }),
              let since = field("since", 3).flatMap({ Self.seconds(rfc3339: $0) }) else { return nil }
        self.init(name: name, pid: pid, uid: uid, count: count, since: since)
    }

    /// A time (CLOCK_REALTIME seconds) in RFC 3339, UTC: 2026-11-25T15:00:44Z.
    public static func rfc3339(_ seconds: Int) -> String {
        var time = time_t(seconds)
        var parts = tm()
        gmtime_r(&time, &parts)
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))T"
            + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec))Z"
    }

    /// The seconds of a time `rfc3339(_:)` wrote; nil for any other text.
    public static func seconds<Text: StringProtocol>(rfc3339 text: Text) -> Int? {
        let bytes = Array(text.utf8)
        guard bytes.count == 20, bytes[4] == UInt8(ascii: "-"), bytes[7] == UInt8(ascii: "-"),
              bytes[10] == UInt8(ascii: "T"), bytes[13] == UInt8(ascii: ":"), bytes[16] == UInt8(ascii: ":"),
              bytes[19] == UInt8(ascii: "Z") else { return nil }
        func number(_ range: Range<Int>) -> Int32? {
            var value: Int32 = 0
            for byte in bytes[range] {
                guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
                value = value * 10 + Int32(byte - UInt8(ascii: "0"))
            }
            return value
        }
        guard let year = number(0..<4), let month = number(5..<7), let day = number(8..<10),
              let hour = number(11..<13), let minute = number(14..<16), let second = number(17..<19),
              (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61 else { return nil }
        var parts = tm()
        parts.tm_year = year - 1900
        parts.tm_mon = month - 1
        parts.tm_mday = day
        parts.tm_hour = hour
        parts.tm_min = minute
        parts.tm_sec = second
        return Int(timegm(&parts))
    }
}
