#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing

// MARK: The suite

/// Where mounting is possible: root and /dev/fuse (loop devices need root too).
enum MountEnvironment {
    static let canMount = geteuid() == 0 && access("/dev/fuse", F_OK) == 0

    /// On CI (CI set) the tests always run, and fail if the machine cannot
    /// mount; elsewhere they are skipped when it cannot.
    static let enabled = canMount || ProcessInfo.processInfo.environment["CI"] != nil

    /// The recorderfs binary built with the tests: it sits next to the test
    /// bundle (the test target depends on the executable target).
    static let binary: String = {
        // scripts/test runs the suite a second time against the release build.
        if let chosen = ProcessInfo.processInfo.environment["RECORDERFS_BINARY"], !chosen.isEmpty { return chosen }
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? ""
        return (executable as NSString).deletingLastPathComponent + "/recorderfs"
    }()
}

/// Every test that mounts. Serialized: mounts and loop devices are shared by
/// the whole machine. Each nested suite lives in its own file.
@Suite(
    "recorderfs mounted for real",
    .serialized,
    .enabled(if: MountEnvironment.enabled, "needs root and /dev/fuse (under CI, with CI set, these tests run and fail instead)"),
    .timeLimit(.minutes(2))
)
struct Mounted {}

// MARK: Mount table

struct MountEntry {
    var id: Int
    var mountPoint: String
    var type: String
    var source: String
}

/// The mounts of this process's namespace, from /proc/self/mountinfo.
func mountEntries() -> [MountEntry] {
    fileText("/proc/self/mountinfo").split(separator: "\n").compactMap { line in
        let fields = line.split(separator: " ", omittingEmptySubsequences: false)
        guard fields.count >= 10, let id = Int(fields[0]),
              let separator = fields.firstIndex(of: "-"), separator + 2 < fields.count else { return nil }
        return MountEntry(id: id, mountPoint: unescapeMountField(fields[4]),
                          type: String(fields[separator + 1]), source: String(fields[separator + 2]))
    }
}

/// The mounts at exactly `path`, oldest first.
func mounts(at path: String) -> [MountEntry] {
    mountEntries().filter { $0.mountPoint == path }
}

/// mountinfo writes space, tab, newline and backslash as octal escapes.
private func unescapeMountField(_ field: Substring) -> String {
    var bytes: [UInt8] = []
    var rest = Array(field.utf8)[...]
    while let byte = rest.first {
        if byte == UInt8(ascii: "\\"), rest.count >= 4,
           let value = UInt8(String(decoding: rest.dropFirst().prefix(3), as: UTF8.self), radix: 8) {
            bytes.append(value)
            rest = rest.dropFirst(4)
        } else {
            bytes.append(byte)
            rest = rest.dropFirst()
        }
    }
    return String(decoding: bytes, as: UTF8.self)
}

// MARK: The daemon

/// A `recorderfs mount` running in the foreground as a child of the test,
/// its stderr in a log file.
final class RecorderDaemon {
    let child: Child
    let mountPoint: String
    let logPath: String

    /// Starts the daemon and waits (at most 10 s) until it says it is
    /// mounted and its mount shows in /proc/self/mountinfo. (A stale mount
    /// may already be listed, and the kernel reuses a freed mount's id, so
    /// the mount table alone cannot tell the new mount.)
    /// `environment` ("NAME=VALUE") is added to the daemon's.
    init(mountPoint: String, arguments: [String], logPath: String, environment: [String] = []) throws {
        self.mountPoint = mountPoint
        self.logPath = logPath
        let prefix = environment.isEmpty ? [] : ["/usr/bin/env"] + environment
        child = try Child(prefix + [MountEnvironment.binary, "mount", mountPoint] + arguments,
                          stdout: logPath + ".out", stderr: logPath)
        var exited: Int32?
        let mounted = poll(within: .seconds(10)) {
            if fileText(logPath).split(separator: "\n").contains(where: { $0.hasSuffix(" mounted") }),
               mounts(at: mountPoint).contains(where: { $0.type == "fuse.recorderfs" }) {
                return true
            }
            exited = child.wait(within: .zero)
            return exited != nil
        }
        if let exited {
            throw TestFailure("`\(child.commandLine)` exited with \(exited) before mounting; log: \(log)")
        }
        guard mounted else {
            child.end()
            throw TestFailure("`\(child.commandLine)` did not mount within 10 s; log: \(log)")
        }
        // Each recorder's generation starts from the clock (issue H): what it
        // shows before anything happens is its base.
        let names = (try? FileManager.default.contentsOfDirectory(atPath: mountPoint)) ?? []
        for name in names where name != "by-id" {
            generationBases[name] = UInt64(fileText("\(mountPoint)/\(name)/generation").trimmingNewline)
        }
    }

    /// The generation each recorder showed at mount, by name.
    private(set) var generationBases: [String: UInt64] = [:]

    var log: String { fileText(logPath) }

    /// The log's lines that contain every one of `words`.
    func logLines(containing words: String...) -> [Substring] {
        log.split(separator: "\n").filter { line in words.allSatisfy { line.contains($0) } }
    }

    /// SIGTERM, then waits at most `limit`; the exit status, nil if it still runs.
    @discardableResult
    func stop(within limit: Duration = .seconds(10)) -> Int32? {
        if let status = child.wait(within: .zero) { return status }
        child.signal(SIGTERM)
        return child.wait(within: limit)
    }

    /// SIGKILL, and reaps it.
    func kill() {
        child.signal(SIGKILL)
        child.wait(within: .seconds(10))
    }
}

// MARK: Workspace

/// A temporary directory under /tmp (traversable by uid 65534) that owns
/// everything a test sets up: loop devices, daemons, agents, volume mounts.
/// `tearDown` undoes all of it, whatever state the test stopped in.
final class Workspace {
    let path: String
    /// Each loop device attached, with its node's owner, group and mode before.
    private var loopDevices: [(node: String, uid: uid_t, gid: gid_t, mode: mode_t)] = []
    private var daemons: [RecorderDaemon] = []
    private var agents: [Agent] = []
    private var strays: [pid_t] = []

    init() throws {
        var template = Array("/tmp/recorderfs-it-XXXXXX".utf8CString)
        guard template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) != nil else {
            throw TestFailure("mkdtemp: \(String(cString: strerror(errno)))")
        }
        path = String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
        chmod(path, 0o755)
    }

    /// A new directory `name` in the workspace, mode 0755.
    func directory(_ name: String) throws -> String {
        let directory = "\(path)/\(name)"
        guard mkdir(directory, 0o755) == 0 || errno == EEXIST else {
            throw TestFailure("mkdir \(directory): \(String(cString: strerror(errno)))")
        }
        chmod(directory, 0o755)
        return directory
    }

    /// A loop device on a new 16 MiB image (with an ext2 file system when
    /// `volume`), its node set to root:disk 0660 like a recorder's.
    func loopDevice(volume: Bool = false) throws -> String {
        let image = "\(path)/disc\(loopDevices.count).img"
        try run(["truncate", "-s", "16M", image]).check()
        if volume { try run(["mkfs.ext2", "-q", "-F", image]).check() }
        let node = try run(["losetup", "-f", "--show", image]).check().stdout.trimmingNewline
        var info = stat()
        stat(node, &info)
        loopDevices.append((node, info.st_uid, info.st_gid, info.st_mode & 0o7777))
        try run(["chown", "root:disk", node]).check()
        try run(["chmod", "0660", node]).check()
        return node
    }

    /// Starts `recorderfs mount MOUNTPOINT ARGUMENTS...` in the foreground.
    func startDaemon(mountPoint: String, _ arguments: [String], environment: [String] = []) throws -> RecorderDaemon {
        let daemon = try RecorderDaemon(mountPoint: mountPoint, arguments: arguments,
                                        logPath: "\(path)/daemon\(daemons.count).log", environment: environment)
        daemons.append(daemon)
        return daemon
    }

    /// A python3 agent, run as `user` (a setpriv prefix) if given.
    func agent(user: [String] = []) throws -> Agent {
        let agent = try Agent(user: user, outputIn: path, index: agents.count)
        agents.append(agent)
        return agent
    }

    /// A process the test did not spawn directly (a daemon that went to the
    /// background, a command's background child), to kill at the end.
    func track(_ pid: pid_t) {
        strays.append(pid)
    }

    func tearDown() {
        for agent in agents { agent.child.end() }
        for daemon in daemons {
            if daemon.stop() == nil {
                Issue.record("the daemon on \(daemon.mountPoint) did not exit within 10 s of SIGTERM; log: \(daemon.log)")
                daemon.child.end()
            }
        }
        for pid in strays { _ = kill(pid, SIGKILL) }
        // Whatever is still mounted in the workspace (a volume, the mount of
        // a daemon that was killed or went to the background), deepest first.
        let leftovers = mountEntries().map(\.mountPoint).filter { $0.hasPrefix(path + "/") }
        for mountPoint in Set(leftovers).sorted(by: { $0.count > $1.count }) {
            _ = umount2(mountPoint, Int32(MNT_DETACH))
        }
        for loop in loopDevices {
            _ = try? run(["losetup", "-d", loop.node])
            // The node is the machine's: as it was before the test.
            chown(loop.node, loop.uid, loop.gid)
            chmod(loop.node, loop.mode)
        }
        if mountEntries().contains(where: { $0.mountPoint.hasPrefix(path + "/") }) {
            Issue.record("something is still mounted under \(path); it is left in place")
            return
        }
        try? FileManager.default.removeItem(atPath: path)
    }
}

/// Runs `body` with a fresh workspace, torn down afterwards whatever happens.
func withWorkspace(_ body: (Workspace) throws -> Void) throws {
    let workspace = try Workspace()
    defer { workspace.tearDown() }
    try body(workspace)
}

// MARK: One mounted recorder

/// A tree mounted on `mountPoint` with one recorder, sr0, on a fresh loop
/// device (or the recorder `name` of a tree with several).
struct MountedRecorder {
    let workspace: Workspace
    let mountPoint: String
    let device: String
    let daemon: RecorderDaemon
    var name = "sr0"

    static let arguments = ["--no-discover"]

    var directory: String { "\(mountPoint)/\(name)" }

    func path(_ file: String) -> String { "\(directory)/\(file)" }

    /// A file of sr0 as `cat` shows it, from another process.
    func cat(_ file: String) throws -> String {
        try run(["cat", path(file)]).check().stdout
    }

    /// A claim held up: an agent holds a shared flock on the node (until it
    /// unlocks `node`) while root writes `name` to `acquire` (DeadlineTests'
    /// timedWrite, whose output tells the outcome).
    func heldUpClaim(_ name: String) throws -> (blocker: Agent, node: Int, claim: Child) {
        let blocker = try workspace.agent()
        let node = try blocker.openDescriptor(device, .readOnly)
        #expect(try blocker.flock(node, .shared) == .ok(0))
        let claim = try Child(["/usr/bin/python3", "-c", Mounted.DeadlineTests.timedWrite, path("acquire"), name],
                              stdout: "\(workspace.path)/claim.out", stderr: "\(workspace.path)/claim.err")
        return (blocker, node, claim)
    }

    /// The recorder's `generation` now, as a number.
    func generationValue() throws -> UInt64 {
        let text = try cat("generation")
        guard let value = UInt64(text.trimmingNewline) else { throw TestFailure("generation: \(text.debugDescription)") }
        return value
    }

    /// The generation the recorder showed at mount.
    func generationBase() throws -> UInt64 {
        guard let base = daemon.generationBases[name] else { throw TestFailure("no generation of \(name) at mount") }
        return base
    }

    /// How many times the recorder went from free to locked since mount: its
    /// generation less the one it showed at mount.
    func generation() throws -> UInt64 {
        try generationValue() - generationBase()
    }

    /// owner and lockcount, read one after the other by separate processes.
    func state() throws -> (owner: String, lockcount: String) {
        (try cat("owner"), try cat("lockcount"))
    }
}

/// Mounts sr0 on a new loop device (with an ext2 file system when `volume`)
/// with `options`, runs `body`, and tears everything down.
func withRecorder(_ options: [String] = [], volume: Bool = false, _ body: (MountedRecorder) throws -> Void) throws {
    try withWorkspace { workspace in
        let device = try workspace.loopDevice(volume: volume)
        let mountPoint = try workspace.directory("mnt")
        let daemon = try workspace.startDaemon(
            mountPoint: mountPoint, MountedRecorder.arguments + ["--device", "sr0=\(device)"] + options)
        try body(MountedRecorder(workspace: workspace, mountPoint: mountPoint, device: device, daemon: daemon))
    }
}

/// What `ls MOUNTPOINT` shows with these recorders: their directories,
/// `by-id`, the directory of links by stable id, and `events` (issue I).
func rootListing(_ recorders: String...) -> String {
    (recorders + ["by-id", "events"]).sorted().map { $0 + "\n" }.joined()
}

/// The recorder is free, as every user sees it.
func expectFree(_ recorder: MountedRecorder, sourceLocation: SourceLocation = #_sourceLocation) throws {
    let (owner, lockcount) = try recorder.state()
    #expect(owner == "", "owner", sourceLocation: sourceLocation)
    #expect(lockcount == "0\n", "lockcount", sourceLocation: sourceLocation)
}

/// The recorder is held by `name` with `count` locks.
func expectHeld(_ recorder: MountedRecorder, by name: String, count: Int, sourceLocation: SourceLocation = #_sourceLocation) throws {
    let (owner, lockcount) = try recorder.state()
    #expect(owner == "\(name)\n", "owner", sourceLocation: sourceLocation)
    #expect(lockcount == "\(count)\n", "lockcount", sourceLocation: sourceLocation)
}

/// A failure of the command line: a non-zero status and exactly one sentence
/// on stderr ("recorderfs: ....").
func expectOneSentence(_ finished: Finished, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(finished.status != 0, "\(finished)", sourceLocation: sourceLocation)
    #expect(finished.stderrLines.count == 1 && finished.stderr.hasSuffix("\n"), "\(finished)", sourceLocation: sourceLocation)
    #expect(finished.stderr.hasPrefix("recorderfs: ") && finished.stderr.trimmingNewline.hasSuffix("."),
            "\(finished)", sourceLocation: sourceLocation)
}
