#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing

// The tests drive the mount only from separate processes (sh, cat, python3),
// as users do, so that every request reaches the daemon through the kernel
// with the caller's own pid, uid and file table.

/// A failure that ends a test; the message carries the details.
struct TestFailure: Error, CustomStringConvertible {
    let description: String

    init(_ description: String) {
        self.description = description
    }
}

/// The environment of every child: a PATH with sbin (losetup, mkfs.ext2),
/// whatever PATH the test runner had, and the C locale so that messages are
/// the ones asserted.
let childEnvironment: [String] = {
    var environment = Array((0...).lazy.map { environ[$0] }.prefix { $0 != nil }.map { String(cString: $0!) })
    environment.removeAll { $0.hasPrefix("PATH=") || $0.hasPrefix("LC_") || $0.hasPrefix("LANG=") }
    return environment + [
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "LC_ALL=C",
        "PYTHONDONTWRITEBYTECODE=1",
    ]
}()

private let searchPath = ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"]

/// Polls `condition` until it holds or `limit` has passed; returns whether it held.
func poll(within limit: Duration = .seconds(10), _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = ContinuousClock.now + limit
    while true {
        if try condition() { return true }
        if ContinuousClock.now >= deadline { return false }
        usleep(2_000)
    }
}

/// The bytes of a file, or nil when it cannot be read.
func fileBytes(_ path: String) -> [UInt8]? {
    let descriptor = open(path, O_RDONLY | O_CLOEXEC)
    guard descriptor >= 0 else { return nil }
    defer { close(descriptor) }
    var result: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
        let count = Glibc.read(descriptor, &buffer, buffer.count)
        if count < 0 && errno == EINTR { continue }
        guard count >= 0 else { return nil }
        if count == 0 { return result }
        result += buffer[0..<count]
    }
}

func fileText(_ path: String) -> String {
    fileBytes(path).map { String(decoding: $0, as: UTF8.self) } ?? ""
}

/// A child process, spawned with posix_spawn in its own process group, with
/// its output going to files (a background grandchild can never block a test
/// on a pipe).
final class Child {
    let pid: pid_t
    let arguments: [String]
    let stdoutPath: String
    let stderrPath: String
    /// The exit status as a shell reports it (128+N when killed by signal N),
    /// once reaped.
    private(set) var status: Int32?

    /// Spawns `arguments`; `input` becomes its standard input (else /dev/null).
    init(_ arguments: [String], input: Int32? = nil, stdout: String, stderr: String) throws {
        self.arguments = arguments
        stdoutPath = stdout
        stderrPath = stderr

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        if let input {
            posix_spawn_file_actions_adddup2(&actions, input, 0)
        } else {
            posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        }
        posix_spawn_file_actions_addopen(&actions, 1, stdout, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0o644)
        posix_spawn_file_actions_addopen(&actions, 2, stderr, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0o644)

        // Children start with default signal handling whatever the test
        // runner changed, and in their own group so that teardown can end
        // whatever they started.
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGPIPE, SIGINT, SIGTERM, SIGQUIT, SIGHUP, SIGCHLD, SIGUSR1, SIGUSR2, SIGALRM] {
            sigaddset(&defaults, signal)
        }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        var mask = sigset_t()
        sigemptyset(&mask)
        posix_spawnattr_setsigmask(&attributes, &mask)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETPGROUP))

        let program = arguments[0].contains("/")
            ? arguments[0]
            : searchPath.map { "\($0)/\(arguments[0])" }.first { access($0, X_OK) == 0 } ?? arguments[0]
        var cArguments = arguments.map { strdup($0) } + [nil]
        defer { cArguments.forEach { free($0) } }
        var cEnvironment = childEnvironment.map { strdup($0) } + [nil]
        defer { cEnvironment.forEach { free($0) } }
        var pid = pid_t()
        let spawned = posix_spawn(&pid, program, &actions, &attributes, &cArguments, &cEnvironment)
        guard spawned == 0 else {
            throw TestFailure("cannot run \(arguments.joined(separator: " ")): \(String(cString: strerror(spawned)))")
        }
        self.pid = pid
    }

    /// Waits at most `limit` for the child to end; its status, or nil if it
    /// is still running.
    @discardableResult
    func wait(within limit: Duration) -> Int32? {
        if let status { return status }
        let deadline = ContinuousClock.now + limit
        while true {
            var raw: Int32 = 0
            let reaped = waitpid(pid, &raw, WNOHANG)
            if reaped == pid {
                let signal = raw & 0x7f
                status = signal == 0 ? (raw >> 8) & 0xff : 128 + signal
                return status
            }
            if reaped < 0 && errno != EINTR {
                status = -1
                return status
            }
            if ContinuousClock.now >= deadline { return nil }
            usleep(1_000)
        }
    }

    var isRunning: Bool { wait(within: .zero) == nil }

    func signal(_ signal: Int32) {
        if status == nil { _ = kill(pid, signal) }
    }

    /// Kills the child and everything in its process group, and reaps it.
    func end() {
        guard status == nil else { return }
        _ = kill(-pid, SIGKILL)
        _ = kill(pid, SIGKILL)
        wait(within: .seconds(10))
    }

    var output: String { fileText(stdoutPath) }
    var errors: String { fileText(stderrPath) }

    var commandLine: String { arguments.joined(separator: " ") }
}

/// How a finished process ended.
struct Finished: CustomStringConvertible {
    var pid: pid_t
    var command: String
    var status: Int32
    var stdout: String
    var stderr: String

    var description: String {
        "`\(command)` exited with \(status); stdout \(stdout.debugDescription); stderr \(stderr.debugDescription)"
    }

    var stderrLines: [Substring] { stderr.split(separator: "\n", omittingEmptySubsequences: false).dropLast() }

    /// Throws unless the process exited with 0.
    @discardableResult
    func check() throws -> Finished {
        guard status == 0 else { throw TestFailure(description) }
        return self
    }
}

/// A unique file under /tmp for one child's output.
private func scratchFile() throws -> String {
    var template = Array("/tmp/recorderfs-it-output-XXXXXX".utf8CString)
    let descriptor = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
    guard descriptor >= 0 else { throw TestFailure("cannot create a file in /tmp: \(String(cString: strerror(errno)))") }
    close(descriptor)
    return String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

/// Runs a process to its end (at most `limit`, after which it is killed and
/// the test fails).
@discardableResult
func run(_ arguments: [String], within limit: Duration = .seconds(30)) throws -> Finished {
    let stdout = try scratchFile()
    let stderr = try scratchFile()
    defer {
        unlink(stdout)
        unlink(stderr)
    }
    let child = try Child(arguments, stdout: stdout, stderr: stderr)
    guard let status = child.wait(within: limit) else {
        child.end()
        throw TestFailure("`\(child.commandLine)` did not end within \(limit); stdout \(child.output.debugDescription), stderr \(child.errors.debugDescription)")
    }
    return Finished(pid: child.pid, command: child.commandLine, status: status, stdout: child.output, stderr: child.errors)
}

/// Runs a shell script.
@discardableResult
func sh(_ script: String, within limit: Duration = .seconds(30)) throws -> Finished {
    try run(["/bin/sh", "-c", script], within: limit)
}

/// The prefix that runs a command as uid 65534 with `group` and no other group.
func asNobody(group: gid_t) -> [String] {
    ["setpriv", "--reuid=65534", "--regid=\(group)", "--clear-groups"]
}

/// The gid of the group `disk` (the group of loop devices).
func diskGroup() throws -> gid_t {
    let entry = try run(["getent", "group", "disk"]).check().stdout
    let fields = entry.split(separator: ":", omittingEmptySubsequences: false)
    guard fields.count >= 3, let gid = gid_t(fields[2]) else { throw TestFailure("getent group disk: \(entry.debugDescription)") }
    return gid
}

// MARK: Python probes

/// A python3 program of Scripts/ (a resource of this target), as text: the
/// tests pass it to `python3 -c`, so that a process of any user can run it
/// whatever the permissions of the build directory.
func pythonScript(_ name: String) -> String {
    guard let url = Bundle.module.url(forResource: name, withExtension: "py", subdirectory: "Scripts") else {
        fatalError("Scripts/\(name).py is not in the test bundle \(Bundle.module.bundlePath)")
    }
    do {
        let text = try String(contentsOf: url, encoding: .utf8)
        return text.hasSuffix("\n") ? String(text.dropLast()) : text
    } catch {
        fatalError("cannot read \(url.path): \(error)")
    }
}

/// One syscall statement in python3: prints "OK", or the errno's name
/// (EBUSY, EINVAL, ...) when it raises OSError. `a` holds the arguments.
private let probeScript = pythonScript("probe")

/// Runs one python statement (`a` is `arguments`); "OK" or the errno name.
func probe(_ statement: String, _ arguments: String..., user: [String] = []) throws -> String {
    let finished = try run(user + ["/usr/bin/python3", "-c", probeScript, statement] + arguments)
    guard finished.status == 0 else { throw TestFailure(finished.description) }
    return finished.stdout.trimmingNewline
}

/// Opens `path` for writing and writes `bytes` in one write(2), in a fresh
/// python3 process: "OK N" (bytes written), the errno name of the write, or
/// "open ERRNO" when the open failed.
func writeOnce(_ path: String, _ bytes: [UInt8], user: [String] = []) throws -> Finished {
    let script = pythonScript("write_once")
    let finished = try run(user + ["/usr/bin/python3", "-c", script, path, hex(bytes)])
    guard finished.status == 0 else { throw TestFailure(finished.description) }
    return finished
}

func writeOnce(_ path: String, _ text: String, user: [String] = []) throws -> String {
    try writeOnce(path, Array(text.utf8), user: user).stdout.trimmingNewline
}

func hex(_ bytes: [UInt8]) -> String {
    let digits = Array("0123456789abcdef".utf8)
    return String(decoding: bytes.flatMap { [digits[Int($0 >> 4)], digits[Int($0 & 15)]] }, as: UTF8.self)
}

extension String {
    /// The text without one trailing "\n".
    var trimmingNewline: String { hasSuffix("\n") ? String(dropLast()) : self }
}

// MARK: Agent

/// What an agent's command did: `ok(value)` (a descriptor, a byte count, a
/// pid, 0) or `failed(errno name)`.
enum Reply: Equatable, CustomStringConvertible {
    case ok(Int)
    case failed(String)

    var description: String {
        switch self {
        case .ok(let value): "OK \(value)"
        case .failed(let name): name
        }
    }
}

/// A python3 process that performs syscalls when told, so that a test can
/// keep descriptors open (and locks held) across checks made from other
/// processes. Commands go over a socket (a dead agent cannot SIGPIPE the test
/// runner); each gets one reply line: "OK N" or "ERR ERRNONAME".
final class Agent {
    let child: Child
    private let commands: Int32
    private var consumed = 0

    private static let script = pythonScript("agent")

    /// Starts an agent; `user` prefixes the command (e.g. setpriv).
    init(user: [String] = [], outputIn directory: String, index: Int) throws {
        var ends: [Int32] = [0, 0]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &ends) == 0 else {
            throw TestFailure("socketpair: \(String(cString: strerror(errno)))")
        }
        defer { Glibc.close(ends[1]) }
        commands = ends[0]
        do {
            child = try Child(user + ["/usr/bin/python3", "-c", Self.script], input: ends[1],
                              stdout: "\(directory)/agent\(index).out", stderr: "\(directory)/agent\(index).err")
        } catch {
            Glibc.close(ends[0])
            throw error
        }
    }

    deinit {
        Glibc.close(commands)
    }

    var pid: pid_t { child.pid }

    /// Sends one command and waits (at most 10 s) for its reply.
    func send(_ words: [String]) throws -> Reply {
        let line = Array((words.joined(separator: " ") + "\n").utf8)
        let sent = line.withUnsafeBytes { Glibc.send(commands, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        guard sent == line.count else {
            throw TestFailure("agent \(pid) is gone (\(String(cString: strerror(errno)))); stderr: \(child.errors)")
        }
        var reply: [UInt8] = []
        let answered = poll(within: .seconds(10)) {
            let output = fileBytes(child.stdoutPath) ?? []
            guard output.count > consumed, let end = output[consumed...].firstIndex(of: UInt8(ascii: "\n")) else {
                return false
            }
            reply = Array(output[consumed..<end])
            consumed = end + 1
            return true
        }
        guard answered else {
            throw TestFailure("agent \(pid) did not answer `\(words.joined(separator: " "))` within 10 s (running: \(child.isRunning)); stderr: \(child.errors)")
        }
        let text = String(decoding: reply, as: UTF8.self)
        if text.hasPrefix("OK "), let value = Int(text.dropFirst(3)) { return .ok(value) }
        if text.hasPrefix("ERR ") { return .failed(String(text.dropFirst(4))) }
        throw TestFailure("agent \(pid) answered \(text.debugDescription)")
    }

    /// How `open` opens a file.
    enum Access: String {
        case writeOnly = "w", readOnly = "r", readWrite = "rw"
        /// O_RDONLY | O_NONBLOCK | O_EXCL: how burners open a drive.
        case exclusive = "excl"
    }

    func open(_ path: String, _ access: Access = .writeOnly) throws -> Reply {
        try send(["open", path, access.rawValue])
    }

    /// Opens `path`; the descriptor, or the test fails.
    func openDescriptor(_ path: String, _ access: Access = .writeOnly) throws -> Int {
        let reply = try open(path, access)
        guard case .ok(let descriptor) = reply else { throw TestFailure("agent: open \(path) (\(access)): \(reply)") }
        return descriptor
    }

    func write(_ descriptor: Int, _ bytes: [UInt8]) throws -> Reply {
        try send(["write", "\(descriptor)", hex(bytes)])
    }

    func write(_ descriptor: Int, _ text: String) throws -> Reply {
        try write(descriptor, Array(text.utf8))
    }

    func close(_ descriptor: Int) throws -> Reply {
        try send(["close", "\(descriptor)"])
    }

    /// One read(2) of at most `size` bytes: the number of bytes read.
    func read(_ descriptor: Int, size: Int = 65536) throws -> Reply {
        try send(["read", "\(descriptor)", "\(size)"])
    }

    /// How `flock` locks a descriptor (flock(2)).
    enum FlockOperation: String {
        case shared = "sh", exclusive = "ex", unlock = "un"
    }

    /// flock(2) on `descriptor`, with LOCK_NB when `nonBlocking`.
    func flock(_ descriptor: Int, _ operation: FlockOperation, nonBlocking: Bool = false) throws -> Reply {
        try send(["flock", "\(descriptor)", operation.rawValue] + (nonBlocking ? ["nb"] : []))
    }

    func dup(_ descriptor: Int) throws -> Reply {
        try send(["dup", "\(descriptor)"])
    }

    /// Forks a child that keeps every descriptor until `endChild`.
    func fork() throws -> Reply {
        try send(["fork"])
    }

    func endChild(_ pid: Int) throws -> Reply {
        try send(["endchild", "\(pid)"])
    }

    /// The forked child `pid` writes `text` through its copy of `descriptor`.
    func childWrite(_ pid: Int, _ descriptor: Int, _ text: String) throws -> Reply {
        try send(["childwrite", "\(pid)", "\(descriptor)", hex(Array(text.utf8))])
    }

    /// The forked child `pid` closes its copy of `descriptor`.
    func childClose(_ pid: Int, _ descriptor: Int) throws -> Reply {
        try send(["childclose", "\(pid)", "\(descriptor)"])
    }

    /// A unix stream socket listening on `path`: its descriptor.
    func listen(_ path: String) throws -> Reply {
        try send(["listen", path])
    }

    /// Accepts one connection on the listening socket `descriptor`.
    func accept(_ descriptor: Int) throws -> Reply {
        try send(["accept", "\(descriptor)"])
    }

    /// A unix stream socket connected to `path`: its descriptor.
    func connect(_ path: String) throws -> Reply {
        try send(["connect", path])
    }

    /// Sends `descriptor` over the connected socket `socket` (SCM_RIGHTS).
    func sendDescriptor(_ socket: Int, _ descriptor: Int) throws -> Reply {
        try send(["sendfd", "\(socket)", "\(descriptor)"])
    }

    /// Receives one descriptor over the connected socket `socket`: its number here.
    func receiveDescriptor(_ socket: Int) throws -> Reply {
        try send(["recvfd", "\(socket)"])
    }

    /// Opens `path` and writes `name` through it; the descriptor, or the test
    /// fails with what went wrong.
    func hold(_ path: String, _ name: String) throws -> Int {
        let descriptor = try openDescriptor(path)
        let reply = try write(descriptor, name)
        guard reply == .ok(name.utf8.count) else { throw TestFailure("agent: write \(name) to \(path): \(reply)") }
        return descriptor
    }
}
