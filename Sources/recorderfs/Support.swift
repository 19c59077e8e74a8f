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
    var pid = pid_t()
    var cArguments = arguments.map { strdup($0) } + [nil]
    defer { cArguments.forEach { free($0) } }
    guard posix_spawnp(&pid, arguments[0], nil, nil, &cArguments, environ) == 0 else { return 127 }
    return waitStatus(pid)
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
