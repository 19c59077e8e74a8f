#if canImport(Glibc)
import Glibc
#endif
import CLinux
import RecorderCore

/// `mount --daemon`: the command starts itself again in a new session and
/// returns once that copy says the tree is mounted. Starting a fresh process
/// instead of forking keeps the runtime's threads and locks out of it.
enum Daemon {
    static let readyVariable = "RECORDERFS_READY_FD"

    /// Starts the background copy and exits with 0 once it is ready, or with
    /// its failure status.
    static func start() throws -> Never {
        guard let (readEnd, writeEnd) = closeOnExecPipe() else {
            throw Failure("cannot start the daemon: \(errorText(errno)).")
        }
        let childReady: Int32 = 3

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, writeEnd, childReady)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        posix_spawnattr_setflags(&attributes, RFS_POSIX_SPAWN_SETSID)

        // The arguments as received, byte for byte, without --daemon.
        let argv = CommandLine.unsafeArgv
        var cArguments: [UnsafeMutablePointer<CChar>?] = (0..<Int(CommandLine.argc)).compactMap { argv[$0] }
            .filter { strcmp($0, "--daemon") != 0 } + [nil]
        var environment = Array((0...).lazy.map { environ[$0] }.prefix { $0 != nil }.map { String(cString: $0!) }
            .filter { !$0.hasPrefix(readyVariable + "=") })
        environment.append("\(readyVariable)=\(childReady)")
        var cEnvironment = environment.map { strdup($0) } + [nil]
        defer { cEnvironment.forEach { free($0) } }

        // The executable itself, not /proc/self/exe: the kernel names the
        // process after the file it runs (ps, pgrep and top show "exe" else).
        let executable = resolvedPath("/proc/self/exe") ?? "/proc/self/exe"
        var pid = pid_t()
        let spawned = posix_spawn(&pid, executable, &actions, &attributes, &cArguments, &cEnvironment)
        close(writeEnd)
        guard spawned == 0 else { throw Failure("cannot start the daemon: \(errorText(spawned)).") }

        var byte: UInt8 = 0
        var count = 0
        repeat { count = read(readEnd, &byte, 1) } while count < 0 && errno == EINTR
        if count == 1 { exit(0) }
        // The copy exited before it was ready; it said why on stderr.
        let status = waitStatus(pid)
        exit(status == 0 ? 1 : status)
    }
}

extension Daemon {
    /// The first thing the background copy does: it closes every descriptor
    /// it did not open (all but stdin, stdout, stderr and `readiness`), so
    /// that it keeps no file, pipe or socket of its caller open, and is named
    /// recorderfs whatever the file it runs is called. (It changes to / once
    /// it has made the paths it was given absolute.)
    static func detach(keeping readiness: Int32) {
        var inherited: [Int32] = []
        if let directory = opendir("/proc/self/fd") {
            let own = dirfd(directory)
            while let entry = readdir(directory) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
                if let descriptor = Int32(name), descriptor > STDERR_FILENO, descriptor != readiness, descriptor != own {
                    inherited.append(descriptor)
                }
            }
            closedir(directory)
        } else {
            let limit = min(Int32(clamping: sysconf(Int32(_SC_OPEN_MAX))), 65536)
            inherited = (STDERR_FILENO + 1..<max(limit, STDERR_FILENO + 1)).filter { $0 != readiness }
        }
        inherited.forEach { _ = close($0) }
        let comm = open("/proc/self/comm", O_WRONLY | O_CLOEXEC)
        if comm >= 0 {
            _ = write(comm, "recorderfs", 10)
            close(comm)
        }
    }
}

/// The pipe on which a background copy says it is ready.
struct ReadinessPipe {
    let descriptor: Int32

    static let inherited: ReadinessPipe? = {
        guard let value = getenv(Daemon.readyVariable), let descriptor = Int32(String(cString: value)),
              fcntl(descriptor, F_GETFD) >= 0 else { return nil }
        unsetenv(Daemon.readyVariable)
        _ = fcntl(descriptor, F_SETFD, FD_CLOEXEC)
        return ReadinessPipe(descriptor: descriptor)
    }()

    /// Says "ready" and lets go of the caller's terminal or pipes: stdout and
    /// stderr become /dev/null (the log has gone to syslog).
    func signalReady() {
        let null = open("/dev/null", O_RDWR | O_CLOEXEC)
        if null >= 0 {
            dup2(null, STDOUT_FILENO)
            dup2(null, STDERR_FILENO)
            close(null)
        }
        var byte: UInt8 = 1
        _ = write(descriptor, &byte, 1)
        close(descriptor)
    }
}
