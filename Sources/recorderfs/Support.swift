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

// MARK: Finding a recorder

/// The mountpoint of an existing mount that `status`, `hold`, `wait` and
/// `unmount` use: the one given, else `$RECORDERFS_MOUNTPOINT`, else the only live recorderfs mount
/// of this mount namespace, else /recorders.
func chosenMountPoint(_ given: String?) -> String {
    if let given { return given }
    if let variable = getenv("RECORDERFS_MOUNTPOINT"), variable.pointee != 0 { return String(cString: variable) }
    let table = (try? MountTable.current())?.entries ?? []
    let mounts = Set(table.filter { $0.fileSystemType == "fuse.recorderfs" }.map(\.mountPoint)).filter(isConnected)
    if mounts.count == 1, let only = mounts.first { return only }
    return "/recorders"
}

/// A recorder's directory in a mounted tree.
struct RecorderLocation {
    /// The mountpoint of its tree (normalised), e.g. /recorders; in a
    /// container given one recorder by a bind mount, that mount itself.
    var mountPoint: String
    /// Its name, e.g. sr0.
    var name: String
    /// The recorder's directory, e.g. /recorders/sr0.
    var directory: String

    init(mountPoint: String, name: String, directory: String? = nil) {
        self.mountPoint = mountPoint
        self.name = name
        self.directory = directory ?? "\(mountPoint)/\(name)"
    }

    func path(_ file: String) -> String { "\(directory)/\(file)" }
}

/// The recorder whose directory is at `path` (any path that resolves to
/// one); nil when it is not a recorder directory of a recorderfs mount.
func recorderDirectory(at path: String) -> RecorderLocation? {
    // A recorder directory bind-mounted on its own (a container's).
    if let resolved = resolvedPath(path), recorderfsMount(at: resolved) != nil, isRecorderDirectory(resolved),
       let name = resolved.split(separator: "/").last.map(String.init) {
        return RecorderLocation(mountPoint: resolved, name: name, directory: resolved)
    }
    guard let resolved = resolvedPath(path), let slash = resolved.lastIndex(of: "/"),
          case let parent = slash == resolved.startIndex ? "/" : String(resolved[..<slash]),
          case let name = String(resolved[resolved.index(after: slash)...]),
          !name.isEmpty, name != "by-id", recorderfsMount(at: parent) != nil, isDirectory(resolved) else { return nil }
    return RecorderLocation(mountPoint: parent, name: name)
}

/// The recorder named `recorder` (or the recorder directory at that path,
/// when it holds a `/`) under the mountpoint `chosenMountPoint(given)`.
func locateRecorder(_ recorder: String, mountPoint given: String?) throws -> RecorderLocation {
    if recorder.contains("/") {
        guard let location = recorderDirectory(at: recorder) else {
            throw Failure("\(recorder) is not a recorder directory.")
        }
        return location
    }
    let mountPoint = chosenMountPoint(given)
    let normalized = normalizedMountPoint(mountPoint)
    guard recorderfsMount(at: normalized) != nil else {
        throw Failure("\(mountPoint) is not a recorderfs mount.")
    }
    guard ![".", "..", "by-id"].contains(recorder), isDirectory("\(normalized)/\(recorder)") else {
        let names = (try? recorderNames(in: normalized)) ?? []
        let known = names.isEmpty ? "none" : names.joined(separator: " ")
        throw Failure("no recorder \(recorder) on \(mountPoint) (recorders: \(known)).")
    }
    return RecorderLocation(mountPoint: normalized, name: recorder)
}

func isDirectory(_ path: String) -> Bool {
    var info = stat()
    return stat(path, &info) == 0 && info.st_mode & S_IFMT == S_IFDIR
}

/// The recorders of the tree mounted on `mountPoint`, sorted by name.
func recorderNames(in mountPoint: String) throws -> [String] {
    guard let directory = opendir(mountPoint) else {
        throw Failure("cannot list \(mountPoint): \(errorText(errno)).")
    }
    defer { closedir(directory) }
    var names: [String] = []
    while let entry = readdir(directory) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
        if name != "." && name != ".." && name != "by-id" && entry.pointee.d_type == DT_DIR { names.append(name) }
    }
    return names.sorted()
}

// MARK: Watching a value

/// Reads a value file of the tree again from its start through an open
/// handle (as sysfs is read after a poll); nil when it cannot be read.
func readAgain(_ descriptor: Int32) -> String? {
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
        let count = buffer.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, $0.count, 0) }
        if count < 0 && errno == EINTR { continue }
        guard count >= 0 else { return nil }
        return String(decoding: buffer[0..<count], as: UTF8.self)
    }
}

/// Seconds on the monotonic clock.
func monotonicSeconds() -> Double {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
}

/// The time left until `deadline` in milliseconds, rounded up, as poll(2)
/// takes it: -1 (no limit) without a deadline, 0 once it has passed.
func millisecondsLeft(until deadline: Double?) -> Int32 {
    guard let deadline else { return -1 }
    let left = deadline - monotonicSeconds()
    return left <= 0 ? 0 : Int32(min((left * 1000).rounded(.up), Double(Int32.max)))
}

/// Waits, at most until `deadline`, for a change of the value file open as
/// `descriptor` since its last read (POLLPRI, sysfs style). False once the
/// deadline has passed.
func waitForChange(_ descriptor: Int32, until deadline: Double?) throws -> Bool {
    while true {
        let timeout = millisecondsLeft(until: deadline)
        if timeout == 0 { return false }
        var entry = pollfd(fd: descriptor, events: Int16(POLLPRI), revents: 0)
        let ready = Glibc.poll(&entry, 1, timeout)
        if ready < 0 {
            if errno == EINTR { continue }
            throw Failure("cannot poll: \(errorText(errno)).")
        }
        if ready > 0 { return true }
    }
}

/// Whether `path` is a recorder's directory (it has `acquire` and `owner`).
func isRecorderDirectory(_ path: String) -> Bool {
    access("\(path)/acquire", F_OK) == 0 && access("\(path)/owner", F_OK) == 0
}
