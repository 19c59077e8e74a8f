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
    var result: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
        let count: Int
        do {
            count = try buffer.withUnsafeMutableBytes { try descriptor.read(into: $0, retryOnInterrupt: true) }
        } catch {
            throw error as! Errno
        }
        if count == 0 { break }
        result.append(contentsOf: buffer[0..<count])
    }
    return String(decoding: result, as: UTF8.self)
}

/// Writes `text` to an existing file in one write(2), as sysfs attributes
/// want (no O_CREAT; O_TRUNC, as a shell's `>` does).
public func writeFile(_ path: String, _ text: String) throws(Errno) {
    let descriptor: FileDescriptor
    do {
        descriptor = try FileDescriptor.open(FilePath(path), .writeOnly, options: [.closeOnExec, .truncate], retryOnInterrupt: true)
    } catch {
        throw error as! Errno
    }
    defer { try? descriptor.close() }
    do {
        _ = try descriptor.writeAll(Array(text.utf8))
    } catch {
        throw error as! Errno
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
