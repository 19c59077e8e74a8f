#if canImport(Glibc)
import Glibc
#endif
import RecorderCore
import ArgumentParser
import Logging

/// systemd's `JOURNAL_STREAM=DEVICE:INODE`: set by systemd for a service
/// whose stderr is connected to the journal. It counts only while stderr is
/// still that stream (a redirection in between makes it a plain file again).
enum JournalStream {
    static func isStandardError() -> Bool {
        guard let value = getenv("JOURNAL_STREAM") else { return false }
        let parts = String(cString: value).split(separator: ":")
        guard parts.count == 2, let device = UInt64(parts[0]), let inode = UInt64(parts[1]) else { return false }
        guard let status = FileStatus(descriptor: STDERR_FILENO) else { return false }
        return status.device == device && status.inode == inode
    }
}

/// A logfmt value: as it is when it is a plain word, else in double quotes
/// with `"` and `\` escaped and control bytes written as `\n`, `\t` or `\xHH`.
func logfmtValue(_ value: String) -> String {
    let plain = !value.isEmpty && value.utf8.allSatisfy { byte in
        byte > 0x20 && byte != 0x7f && byte != UInt8(ascii: "\"") && byte != UInt8(ascii: "=") && byte != UInt8(ascii: "\\")
    }
    if plain { return value }
    var quoted = "\""
    for scalar in value.unicodeScalars {
        switch scalar {
        case "\"": quoted += "\\\""
        case "\\": quoted += "\\\\"
        case "\n": quoted += "\\n"
        case "\t": quoted += "\\t"
        case "\r": quoted += "\\r"
        default:
            if scalar.value < 0x20 || scalar.value == 0x7f {
                let hex = String(scalar.value, radix: 16)
                quoted += "\\x" + (hex.count == 1 ? "0" + hex : hex)
            } else {
                quoted.unicodeScalars.append(scalar)
            }
        }
    }
    return quoted + "\""
}

/// `--log-level`: the least severe level logged.
enum LogLevelArgument: String, ExpressibleByArgument, CaseIterable {
    case trace, debug, info, notice, warning, error, critical

    var level: Logger.Level { Logger.Level(rawValue: rawValue) ?? .notice }
}
