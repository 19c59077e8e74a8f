#if canImport(Glibc)
import Glibc
#endif
import CFuseShim
import Logging
import RecorderCore
import RequestLoop

/// Catches what is written to stderr (fd 2, by this process and the children
/// it starts, such as fusermount3) while a call runs.
enum StandardErrorCapture {
    struct Said {
        /// Everything, as written.
        var all = ""
        /// The last line of libfuse or fusermount3 ("fuse: ...",
        /// "fusermount3: ..."), without that prefix, the period and any
        /// control byte; nil when they said nothing.
        var reason: String?
        /// The other lines (the daemon's own log), each ending in a newline.
        var others: [String] = []
    }

    static func around<T>(_ body: () -> T) -> (T, Said) {
        guard let file = tmpfile() else { return (body(), Said()) }
        defer { fclose(file) }
        let saved = dup(STDERR_FILENO)
        guard saved >= 0 else { return (body(), Said()) }
        defer { close(saved) }
        fflush(nil)
        dup2(fileno(file), STDERR_FILENO)
        let result = body()
        fflush(nil)
        dup2(saved, STDERR_FILENO)

        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        let descriptor = fileno(file)
        var offset: off_t = 0
        while true {
            let count = pread(descriptor, &buffer, buffer.count, offset)
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { break }
            bytes += buffer[0..<count]
            offset += off_t(count)
        }
        var said = Said(all: String(decoding: bytes, as: UTF8.self))
        for line in said.all.split(separator: "\n") {
            var text = Substring(line)
            if let prefix = ["fusermount3: ", "fusermount: ", "fuse: "].first(where: { text.hasPrefix($0) }) {
                text = text.dropFirst(prefix.count)
                while text.hasSuffix(".") || text.hasSuffix(" ") { text = text.dropLast() }
                let clean = String(text.unicodeScalars.filter { $0.value >= 0x20 && $0.value != 0x7f })
                if !clean.isEmpty { said.reason = clean }
            } else {
                said.others.append(line + "\n")
            }
        }
        return (result, said)
    }

    static func write(_ text: String) {
        guard !text.isEmpty else { return }
        _ = text.withCString { Glibc.write(STDERR_FILENO, $0, strlen($0)) }
    }
}
