#if canImport(Glibc)
import Glibc
#endif
import SystemPackage

// The file system calls the core makes in more than one place, made one
// way, on swift-system where it has them.

/// Reads a whole (small, procfs or sysfs) file.
public func readFile(_ path: String) throws(Errno) -> String {
    let descriptor: FileDescriptor
    do {
        descriptor = try FileDescriptor.open(FilePath(path), .readOnly, options: .closeOnExec, retryOnInterrupt: true)
    } catch {
        throw error as! Errno
    }
    defer { try? descriptor.close() }
    // Read into uninitialised memory that grows as needed: `hold` reads
    // /proc/self/mountinfo at every start, and a zeroed 64 KiB buffer cost
    // more than the parse (sixteen page faults and 69,000 instructions).
    var buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 8192, alignment: 1)
    defer { buffer.deallocate() }
    var used = 0
    while true {
        if used == buffer.count {
            let larger = UnsafeMutableRawBufferPointer.allocate(byteCount: buffer.count * 2, alignment: 1)
            larger.copyMemory(from: UnsafeRawBufferPointer(buffer))
            buffer.deallocate()
            buffer = larger
        }
        let count: Int
        do {
            count = try descriptor.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[used...]), retryOnInterrupt: true)
        } catch {
            throw error as! Errno
        }
        if count == 0 { break }
        used += count
    }
    return String(decoding: UnsafeRawBufferPointer(rebasing: buffer[..<used]), as: UTF8.self)
}

/// Writes `text` to an existing regular file in one write(2), as sysfs
/// attributes want (no O_CREAT; O_TRUNC, as a shell's `>` does). The last
/// component must not be a symlink, and the file must be a regular file: a
/// path under a directory another user can write to (a test's sysfs) must
/// never lead the daemon to write elsewhere.
public func writeFile(_ path: String, _ text: String) throws(Errno) {
    let descriptor = try openRegularFile(path, O_WRONLY | O_TRUNC)
    defer { close(descriptor) }
    do {
        _ = try FileDescriptor(rawValue: descriptor).writeAll(Array(text.utf8))
    } catch {
        throw error as! Errno
    }
}

/// Opens a regular file without following a symlink in its last component
/// (and without blocking on a FIFO): the descriptor, close-on-exec.
public func openRegularFile(_ path: String, _ flags: Int32, mode: mode_t = 0) throws(Errno) -> Int32 {
    let descriptor = open(path, flags | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK, mode)
    guard descriptor >= 0 else { throw Errno(rawValue: errno) }
    guard let status = FileStatus(descriptor: descriptor), status.type == S_IFREG else {
        close(descriptor)
        throw Errno.invalidArgument
    }
    return descriptor
}

/// Reads a whole small file from an open descriptor, from offset 0.
public func readAll(_ descriptor: Int32) -> String? {
    var result: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    var offset: off_t = 0
    while true {
        let count = buffer.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, $0.count, offset) }
        if count < 0 && errno == EINTR { continue }
        guard count >= 0 else { return nil }
        if count == 0 { return String(decoding: result, as: UTF8.self) }
        result.append(contentsOf: buffer[0..<count])
        offset += off_t(count)
        if result.count > 65536 { return nil }
    }
}

/// A pipe whose ends are closed on exec (pipe2 is not visible to Swift):
/// (read end, write end), or nil with errno set.
public func closeOnExecPipe() -> (Int32, Int32)? {
    var ends: [Int32] = [0, 0]
    guard pipe(&ends) == 0 else { return nil }
    for end in ends { _ = fcntl(end, F_SETFD, FD_CLOEXEC) }
    return (ends[0], ends[1])
}

/// What stat(2) says of a file, for the checks recorderfs makes.
public struct FileStatus {
    private let raw: stat

    /// stat(2) of `path`, following symlinks; nil when it fails (errno set).
    public init?(path: String) {
        var raw = stat()
        guard stat(path, &raw) == 0 else { return nil }
        self.raw = raw
    }

    /// stat(2) of a path given as a C string.
    public init?(cPath: UnsafePointer<CChar>) {
        var raw = stat()
        guard stat(cPath, &raw) == 0 else { return nil }
        self.raw = raw
    }

    /// fstat(2) of an open descriptor.
    public init?(descriptor: Int32) {
        var raw = stat()
        guard fstat(descriptor, &raw) == 0 else { return nil }
        self.raw = raw
    }

    public var isBlockDevice: Bool { raw.st_mode & S_IFMT == S_IFBLK }
    public var isCharacterDevice: Bool { raw.st_mode & S_IFMT == S_IFCHR }
    /// The file's type (S_IFBLK, S_IFCHR, S_IFDIR…).
    public var type: mode_t { raw.st_mode & S_IFMT }
    public var isDirectory: Bool { raw.st_mode & S_IFMT == S_IFDIR }
    /// The device a device node stands for (st_rdev).
    public var deviceNumber: UInt64 { UInt64(raw.st_rdev) }
    /// The device and inode of the file itself (st_dev, st_ino).
    public var device: UInt64 { UInt64(raw.st_dev) }
    public var inode: UInt64 { UInt64(raw.st_ino) }
    public var mode: mode_t { raw.st_mode }
    public var owner: uid_t { raw.st_uid }
    public var group: gid_t { raw.st_gid }
}

extension Duration {
    /// The duration in whole nanoseconds.
    public var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}
