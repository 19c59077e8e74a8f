#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import RecorderCore

/// A failure to report as one sentence on stderr, with an exit status: what
/// every command throws, and `RecorderFS.main()` alone reports.
struct Failure: Error, CustomStringConvertible {
    var description: String
    var status: Int32 = 1

    init(_ description: String, status: Int32 = 1) {
        self.description = description
        self.status = status
    }
}

func printError(_ line: String) {
    var line = line
    if !line.hasSuffix("\n") { line += "\n" }
    _ = line.withCString { write(STDERR_FILENO, $0, strlen($0)) }
}

func errorText(_ code: Int32) -> String {
    String(cString: strerror(code))
}

/// Bytes as they may be quoted in a one-line message: a control byte, and any
/// byte of text that is not UTF-8, as `\xNN`.
func printable<Bytes: Collection>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
    let isUTF8 = String(validating: bytes, as: UTF8.self) != nil
    var text = ""
    var plain: [UInt8] = []
    func flush() {
        text += String(decoding: plain, as: UTF8.self)
        plain.removeAll()
    }
    for byte in bytes {
        if byte < 0x20 || byte == 0x7f || (byte >= 0x80 && !isUTF8) {
            flush()
            let digits = Array("0123456789abcdef")
            text += "\\x" + String(digits[Int(byte >> 4)]) + String(digits[Int(byte & 15)])
        } else {
            plain.append(byte)
        }
    }
    flush()
    return text
}
