#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import RecorderCore

/// A failure to report as one sentence on stderr, with an exit status.
struct Failure: Error, CustomStringConvertible {
    var description: String
    var status: Int32 = 1

    init(_ description: String, status: Int32 = 1) {
        self.description = description
        self.status = status
    }
}

extension ParsableCommand {
    /// Runs `body`, turning a `Failure` into its sentence and exit status.
    func reporting(_ body: () throws -> Void) throws {
        do {
            try body()
        } catch let failure as Failure {
            printError("recorderfs: \(failure.description)")
            throw ExitCode(failure.status)
        }
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

/// The absolute, symlink-free form of an existing path.
func resolvedPath(_ path: String) -> String? {
    guard let resolved = realpath(path, nil) else { return nil }
    defer { free(resolved) }
    return String(cString: resolved)
}

/// `path` made absolute without touching it (a dead mount cannot be resolved).
func absolutePath(_ path: String) -> String {
    if path.hasPrefix("/") { return path }
    guard let directory = getcwd(nil, 0) else { return path }
    defer { free(directory) }
    return String(cString: directory) + "/" + path
}

/// The form of a mountpoint that the mount table shows: the one function
/// `mount`, `unmount` and `status` compare the table with.
///
/// realpath when it works; a stale mount (its daemon killed) cannot be
/// resolved, as every lookup in it fails with ENOTCONN, so then the path is
/// made absolute, `.`, `..`, `//` and a trailing `/` are removed as text, and
/// only its parent is resolved.
func normalizedMountPoint(_ path: String) -> String {
    guard !path.isEmpty else { return path }
    if let resolved = resolvedPath(path) { return resolved }
    let lexical = lexicallyNormalized(absolutePath(path))
    guard lexical != "/", let slash = lexical.lastIndex(of: "/") else { return lexical }
    let parent = slash == lexical.startIndex ? "/" : String(lexical[..<slash])
    let last = lexical[lexical.index(after: slash)...]
    guard let resolvedParent = resolvedPath(parent) else { return lexical }
    return (resolvedParent == "/" ? "" : resolvedParent) + "/" + last
}

/// An absolute path without `.`, `..`, empty components and a trailing `/`.
func lexicallyNormalized(_ absolute: String) -> String {
    var components: [Substring] = []
    for component in absolute.split(separator: "/") {
        switch component {
        case ".": continue
        case "..": if !components.isEmpty { components.removeLast() }
        default: components.append(component)
        }
    }
    return "/" + components.joined(separator: "/")
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

/// Whether a daemon still serves the FUSE mount at `path`: a mount whose
/// daemon is gone answers ENOTCONN.
func isConnected(_ path: String) -> Bool {
    var info = statvfs()
    return statvfs(path, &info) == 0 || errno != ENOTCONN
}

/// The recorderfs mount at `path`, if there is one.
func recorderfsMount(at path: String) -> MountTable.Entry? {
    guard let table = try? MountTable.current(), let entry = table.entry(at: path) else { return nil }
    return entry.fileSystemType == "fuse.recorderfs" ? entry : nil
}

/// Reads a small file of the tree; nil when it cannot be read.
func readValue(_ path: String) -> String? {
    let descriptor = open(path, O_RDONLY | O_CLOEXEC)
    guard descriptor >= 0 else { return nil }
    defer { close(descriptor) }
    var result: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
        let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
        if count < 0 && errno == EINTR { continue }
        guard count >= 0 else { return nil }
        if count == 0 { break }
        result.append(contentsOf: buffer[0..<count])
    }
    return String(decoding: result, as: UTF8.self)
}

/// Runs a program and waits for it; returns its exit status.
func runProgram(_ arguments: [String]) -> Int32 {
    let cArguments = arguments.map { strdup($0) } + [nil]
    defer { cArguments.forEach { free($0) } }
    return runProgram(rawArguments: cArguments)
}

/// Runs a program given as C strings (ending in nil), byte for byte, and
/// waits for it; returns its exit status.
func runProgram(rawArguments: [UnsafeMutablePointer<CChar>?]) -> Int32 {
    guard let program = rawArguments.first, let program else { return 127 }
    var pid = pid_t()
    guard posix_spawnp(&pid, program, nil, nil, rawArguments, environ) == 0 else { return 127 }
    return waitStatus(pid)
}

/// The raw arguments after the first `--` of the command line, exactly as
/// the process received them (CommandLine.arguments repairs bytes that are
/// not UTF-8), ending in nil.
func rawArgumentsAfterTerminator() -> [UnsafeMutablePointer<CChar>?] {
    let count = Int(CommandLine.argc)
    let argv = CommandLine.unsafeArgv
    guard let terminator = (1..<max(count, 1)).first(where: { argv[$0].map { strcmp($0, "--") == 0 } ?? false }) else {
        return [nil]
    }
    return (terminator + 1..<count).map { argv[$0] } + [nil]
}

/// The bytes of a C string.
func cStringBytes(_ string: UnsafePointer<CChar>) -> [UInt8] {
    Array(UnsafeBufferPointer(start: UnsafeRawPointer(string).assumingMemoryBound(to: UInt8.self), count: strlen(string)))
}

/// Waits for `pid` and returns its exit status as a shell reports it.
func waitStatus(_ pid: pid_t) -> Int32 {
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 {
        guard errno == EINTR else { return 1 }
    }
    let signal = status & 0x7f
    return signal == 0 ? (status >> 8) & 0xff : 128 + signal
}

/// Serialises `recorderfs mount` on one mountpoint: an exclusive flock on a
/// file under /run/recorderfs named by a hash of the normalised mountpoint,
/// held from the check for an existing mount until the new mount is made.
/// Where that file cannot be opened (a user other than root, before root
/// made it), no lock is taken.
final class MountPointLock {
    static let directory = "/run/recorderfs"
    private var descriptor: Int32 = -1

    init(mountPoint: String) {
        if mkdir(Self.directory, 0o755) == 0 { chmod(Self.directory, 0o755) }
        let path = "\(Self.directory)/mountpoint-\(Self.hash(mountPoint)).lock"
        var opened = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o644)
        if opened < 0 { opened = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW) }
        guard opened >= 0 else { return }
        while flock(opened, LOCK_EX) != 0 {
            guard errno == EINTR else {
                close(opened)
                return
            }
        }
        descriptor = opened
    }

    func release() {
        guard descriptor >= 0 else { return }
        close(descriptor)
        descriptor = -1
    }

    deinit { release() }

    /// FNV-1a, 64 bits, in hex.
    static func hash(_ text: String) -> String {
        var value: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            value = (value ^ UInt64(byte)) &* 0x100_0000_01b3
        }
        let hex = String(value, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }
}
