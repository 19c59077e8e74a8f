#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import RecorderCore

struct Hold: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hold",
        abstract: "Run a command while holding a recorder's lock (flock(1) for recorders).",
        discussion: """
            Waits as long as it takes for the lock (-w: at most SECONDS; -n: not at all), then runs \
            COMMAND with the lock's open file, its descriptor number in RECORDERFS_LOCK_FD: the lock \
            lasts as long as COMMAND, or any process that keeps that descriptor. SIGTERM, SIGINT, SIGHUP \
            and SIGQUIT go on to COMMAND. The exit status is COMMAND's (128+N when signal N ended it); \
            75 (or -E) when the recorder is busy or the wait timed out; 126 when COMMAND cannot be run, \
            127 when it is not found.
            """)

    @Argument(help: "The recorder: a name under the mountpoint, or the path of a recorder directory.")
    var recorder: String

    @OptionGroup var target: MountPointOption

    @Option(help: "The client name that holds the lock.")
    var name: String

    @Flag(help: "Dismount the drive's volumes first (acquire_force); waits by watching owner.")
    var force = false

    @Option(name: [.customShort("w"), .customLong("wait"), .customLong("timeout")],
            help: ArgumentHelp("Wait at most SECONDS for the lock.", valueName: "seconds"))
    var wait: Double?

    @Flag(name: [.customShort("n"), .customLong("nonblock"), .customLong("nb")],
          help: "Fail at once when the recorder is busy.")
    var nonblock = false

    @Option(name: [.customShort("E"), .customLong("conflict-exit-code")],
            help: ArgumentHelp("The exit status when the recorder is busy or the wait timed out.", valueName: "number"))
    var conflictExitCode: Int32 = 75

    @Argument(parsing: .postTerminator, help: "The command to run.")
    var command: [String] = []

    /// What was asked, however the command line was read.
    var request: HoldRequest {
        HoldRequest(recorder: recorder, mountPoint: target.mountPoint, name: name, force: force, wait: wait,
                    nonblock: nonblock, conflictExitCode: conflictExitCode, command: command)
    }

    func validate() throws { try request.validate() }

    func run() throws { try request.run() }
}

/// `hold`'s request: from the parser (`Hold`), or, for the common forms of
/// its command line, from `init?(quickParsing:)`.
struct HoldRequest: Equatable {
    var recorder: String
    var mountPoint: String?
    var name: String
    var force = false
    var wait: Double?
    var nonblock = false
    var conflictExitCode: Int32 = 75
    var command: [String] = []

    /// The environment variable that tells COMMAND the lock's descriptor.
    static let descriptorVariable = "RECORDERFS_LOCK_FD"

    func validate() throws {
        do {
            _ = try ClientName(name)
        } catch {
            throw ValidationError("'\(name)' is not a valid client name for '--name': 1 to 63 of A-Z a-z 0-9 space . , : ; - _")
        }
        if let wait, !(wait >= 0 && wait <= 1_000_000_000) {
            throw ValidationError("'--wait' must be between 0 and 1000000000 seconds.")
        }
        if nonblock && wait != nil { throw ValidationError("'--nonblock' and '--wait' cannot be used together.") }
        guard (0...255).contains(conflictExitCode) else {
            throw ValidationError("'--conflict-exit-code' must be between 0 and 255.")
        }
        guard !command.isEmpty else { throw ValidationError("Give the command to run after '--'.") }
    }

    func run() throws {
        let location = try locateRecorder(recorder, mountPoint: mountPoint)
        let deadline = wait.map { monotonicSeconds() + $0 }
        let handle: Int32
        if nonblock || wait == 0 {
            handle = try takeAtOnce(location)
        } else if force {
            handle = try takeForceWaiting(location, until: deadline)
        } else {
            handle = try takeWaiting(location)
        }
        // Not close-on-exec: COMMAND inherits the lock, as with flock(1).
        setenv(Self.descriptorVariable, String(handle), 1)
        let status = try runForwardingSignals(rawArgumentsAfterTerminator())
        close(handle)
        throw ExitCode(status)
    }

    // MARK: Taking the lock

    private var bytes: [UInt8] { Array(name.utf8) }

    /// Opens a lock file, NOT close-on-exec.
    private func openLockFile(_ path: String) throws -> Int32 {
        let handle = open(path, O_WRONLY)
        guard handle >= 0 else { throw Failure("cannot open \(path): \(errorText(errno)).") }
        return handle
    }

    /// -n: `acquire` (or `acquire_force`), refused at once when busy.
    private func takeAtOnce(_ location: RecorderLocation) throws -> Int32 {
        let handle = try openLockFile(location.path(force ? "acquire_force" : "acquire"))
        var written: Int
        repeat { written = write(handle, bytes, bytes.count) } while written < 0 && errno == EINTR
        if written < 0 {
            let code = errno
            close(handle)
            throw lockFailure(code, location)
        }
        return handle
    }

    /// `acquire_wait`: the daemon parks the write until the lock is handed
    /// over. With -w, a SIGALRM (its handler installed without SA_RESTART)
    /// interrupts the write, which then fails with EINTR.
    private func takeWaiting(_ location: RecorderLocation) throws -> Int32 {
        let handle = try openLockFile(location.path("acquire_wait"))
        announceWaiting(location)
        let timer = wait.map { AlarmTimer(seconds: $0) }
        defer { timer?.stop() }
        while true {
            if let timer, timer.fired {
                close(handle)
                throw timedOut(location)
            }
            if write(handle, bytes, bytes.count) >= 0 { return handle }
            let code = errno
            // EINTR: the timer (checked above), or a stop and continue.
            if code == EINTR { continue }
            close(handle)
            throw lockFailure(code, location)
        }
    }

    /// --force without -n: acquire_force has no waiting twin, so this waits
    /// until `owner` is empty (poll for POLLPRI), writes to acquire_force,
    /// and waits again when another handle was quicker (EBUSY).
    private func takeForceWaiting(_ location: RecorderLocation, until deadline: Double?) throws -> Int32 {
        let ownerPath = location.path("owner")
        let owner = open(ownerPath, O_RDONLY | O_CLOEXEC)
        guard owner >= 0 else { throw Failure("cannot open \(ownerPath): \(errorText(errno)).") }
        defer { close(owner) }
        let handle = try openLockFile(location.path("acquire_force"))
        var announced = false
        do {
            while true {
                // Until the recorder is free.
                while true {
                    guard let value = readAgain(owner) else { throw Failure("cannot read \(ownerPath): \(errorText(errno)).") }
                    if value.isEmpty { break }
                    if !announced {
                        announceWaiting(location)
                        announced = true
                    }
                    guard try waitForChange(owner, until: deadline) else { throw timedOut(location) }
                }
                if write(handle, bytes, bytes.count) >= 0 { return handle }
                let code = errno
                if code == EINTR { continue }
                guard code == EBUSY else { throw lockFailure(code, location) }
                if readAgain(owner)?.isEmpty == false { continue }
                // Free, yet busy: a program outside recorderfs holds the
                // drive (answered at once), or another handle is claiming
                // it (a moment: look again shortly).
                if outsideHolder(location) != nil { throw lockFailure(code, location) }
                let pause = min(millisecondsLeft(until: deadline) == -1 ? 100 : millisecondsLeft(until: deadline), 100)
                if pause == 0 { throw timedOut(location) }
                var entry = pollfd(fd: owner, events: Int16(POLLPRI), revents: 0)
                _ = Glibc.poll(&entry, 1, pause)
            }
        } catch {
            close(handle)
            throw error
        }
    }

    // MARK: Messages

    /// Once, and only to a terminal: whom `hold` waits for.
    private func announceWaiting(_ location: RecorderLocation) {
        guard isatty(STDERR_FILENO) == 1, let owner = readValue(location.path("owner")), !owner.isEmpty else { return }
        let holder = (readValue(location.path("holders")) ?? "").split(separator: "\n").first.flatMap(HandleRecord.init(line:))
        printError("recorderfs: waiting for \(location.name), held by \(owner.dropLast())"
                   + (holder.flatMap { $0.pid == 0 ? nil : " (pid \($0.pid))" } ?? "") + "…")
    }

    private func outsideHolder(_ location: RecorderLocation) -> FlockHolder? {
        let device = readValue(location.path("device")).map { String($0.prefix { $0 != "\n" }) }
        return device.flatMap { FlockHolder.exclusive(ofPath: $0) }
    }

    /// Why the recorder is busy: its holder, the program outside recorderfs
    /// that holds the drive, or a mounted volume.
    private func busyReason(_ location: RecorderLocation) -> String {
        let owner = readValue(location.path("owner")) ?? ""
        if !owner.isEmpty { return "held by \(owner.dropLast())" }
        return outsideHolder(location).map { "held outside recorderfs by \($0)" }
            ?? "a volume of the drive is mounted, or another program holds it"
    }

    private func lockFailure(_ code: Int32, _ location: RecorderLocation) -> Failure {
        if code == EBUSY {
            return Failure("\(location.name) is busy: \(busyReason(location)).", status: conflictExitCode)
        }
        return Failure("cannot lock \(location.name): \(errorText(code)).")
    }

    private func timedOut(_ location: RecorderLocation) -> Failure {
        let seconds = wait.map { $0 == $0.rounded() ? String(Int($0)) : String($0) } ?? "?"
        return Failure("\(location.name) is still busy after \(seconds) s: \(busyReason(location)).", status: conflictExitCode)
    }

    // MARK: Running the command

    /// Runs the command byte for byte (the raw arguments after `--`) with
    /// every descriptor not close-on-exec, forwards SIGTERM, SIGINT, SIGHUP
    /// and SIGQUIT to it, and returns its exit status.
    private func runForwardingSignals(_ arguments: [UnsafeMutablePointer<CChar>?]) throws -> Int32 {
        guard let program = arguments.first, let program else { throw Failure("no command to run.") }
        var blocked = sigset_t()
        sigemptyset(&blocked)
        for signal in SignalForwarding.signals { sigaddset(&blocked, signal) }
        var previous = sigset_t()
        // Blocked from before the spawn until the handlers know the pid.
        sigprocmask(SIG_BLOCK, &blocked, &previous)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        posix_spawnattr_setsigmask(&attributes, &previous)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK))
        var pid = pid_t()
        let spawned = posix_spawnp(&pid, program, nil, &attributes, arguments, environ)
        guard spawned == 0 else {
            sigprocmask(SIG_SETMASK, &previous, nil)
            let shown = printable(cStringBytes(program))
            if spawned == ENOENT { throw Failure("cannot run \(shown): no such command.", status: 127) }
            throw Failure("cannot run \(shown): \(errorText(spawned)).", status: 126)
        }
        SignalForwarding.install(child: pid)
        sigprocmask(SIG_SETMASK, &previous, nil)
        return waitStatus(pid)
    }
}

// MARK: The quick reading

extension HoldRequest {
    /// The common forms of `hold`'s command line, read without the parser:
    /// the parser's reflection over the options is two thirds of the
    /// instructions of a `hold -- true` (docs/operations.md, "Start-up").
    /// `RECORDER` and the options in any order, each option once, its value
    /// as the next argument, then `--` and COMMAND. Anything else (help,
    /// `--option=value`, a repeated option, a value that starts with '-', a
    /// request `validate()` refuses) gives nil: the parser reads it, and
    /// says what is wrong. What this reads, the parser reads the same way
    /// (`HoldCommandLineTests`).
    init?(quickParsing arguments: some Collection<String>) {
        guard let terminator = arguments.firstIndex(of: "--") else { return nil }
        let options = Array(arguments[..<terminator])
        var recorder: String?
        var name: String?
        var request = HoldRequest(recorder: "", name: "", command: Array(arguments[arguments.index(after: terminator)...]))
        var seen: [String] = []
        var index = 0
        while index < options.count {
            let option = options[index]
            index += 1
            guard option.hasPrefix("-") else {
                guard recorder == nil else { return nil }
                recorder = option
                continue
            }
            let key: String
            switch option {
            case "--mountpoint", "--name", "--force": key = option
            case "-w", "--wait", "--timeout": key = "--wait"
            case "-n", "--nonblock", "--nb": key = "--nonblock"
            case "-E", "--conflict-exit-code": key = "-E"
            default: return nil
            }
            guard !seen.contains(key) else { return nil }
            seen.append(key)
            if key == "--force" {
                request.force = true
                continue
            }
            if key == "--nonblock" {
                request.nonblock = true
                continue
            }
            guard index < options.count, !options[index].hasPrefix("-") else { return nil }
            let value = options[index]
            index += 1
            switch key {
            case "--mountpoint": request.mountPoint = value
            case "--name": name = value
            case "--wait":
                guard let seconds = Double(value) else { return nil }
                request.wait = seconds
            default:
                guard let code = Int32(value) else { return nil }
                request.conflictExitCode = code
            }
        }
        guard let recorder, let name else { return nil }
        request.recorder = recorder
        request.name = name
        guard (try? request.validate()) != nil else { return nil }
        self = request
    }
}

// MARK: Signals

/// The command's pid, for the forwarding handler. nonisolated(unsafe): a
/// signal handler can reach nothing but a global, set before it is installed.
nonisolated(unsafe) private var forwardedChild: pid_t = 0
/// Set by the SIGALRM handler of `hold -w`. nonisolated(unsafe): written by
/// that handler only, as sig_atomic_t.
nonisolated(unsafe) private var alarmFired: sig_atomic_t = 0

enum SignalForwarding {
    static let signals = [SIGTERM, SIGINT, SIGHUP, SIGQUIT]

    /// From now on these signals go on to `child`. One the terminal sent
    /// (si_code SI_KERNEL) reached the whole foreground process group, the
    /// command too when it shares hold's group: it is not sent twice.
    static func install(child: pid_t) {
        forwardedChild = child
        var action = sigaction()
        action.__sigaction_handler.sa_sigaction = { signal, info, _ in
            let fromTerminal = info.map { $0.pointee.si_code == 0x80 } ?? false
            if fromTerminal && getpgid(forwardedChild) == getpgrp() { return }
            kill(forwardedChild, signal)
        }
        action.sa_flags = SA_SIGINFO | SA_RESTART
        sigemptyset(&action.sa_mask)
        for signal in signals { sigaction(signal, &action, nil) }
    }
}

/// An interval timer that interrupts a blocked write(2): SIGALRM, with a
/// handler installed without SA_RESTART, first after `seconds`, then every
/// 50 ms (in case the first one came just before the write began).
final class AlarmTimer {
    init(seconds: Double) {
        alarmFired = 0
        var action = sigaction()
        action.__sigaction_handler.sa_handler = { _ in alarmFired = 1 }
        action.sa_flags = 0
        sigemptyset(&action.sa_mask)
        sigaction(SIGALRM, &action, nil)
        let first = max(seconds, 0.000_001)
        var value = itimerval(
            it_interval: timeval(tv_sec: 0, tv_usec: 50_000),
            it_value: timeval(tv_sec: Int(first), tv_usec: Int((first - first.rounded(.down)) * 1_000_000)))
        if value.it_value.tv_sec == 0 && value.it_value.tv_usec == 0 { value.it_value.tv_usec = 1 }
        setitimer(__itimer_which_t(ITIMER_REAL.rawValue), &value, nil)
    }

    var fired: Bool { alarmFired != 0 }

    /// Disarms the timer and gives SIGALRM its default action back.
    func stop() {
        var zero = itimerval()
        setitimer(__itimer_which_t(ITIMER_REAL.rawValue), &zero, nil)
        signal(SIGALRM, SIG_DFL)
    }
}
