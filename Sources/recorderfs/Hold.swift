#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import RecorderCore

struct Hold: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a command while holding a recorder's lock (flock(1) for recorders).",
        discussion: "The lock goes away when the command ends, however it ends. The exit status is the command's; 75 when the recorder is busy.")

    @Argument(help: "The recorder: a name under the mountpoint, or the path of a recorder directory.")
    var recorder: String

    @Option(help: "The mountpoint of the tree.")
    var mountpoint = "/recorders"

    @Option(help: "The client name that holds the lock.")
    var name: String

    @Flag(help: "Dismount the drive's volumes first (acquire_force).")
    var force = false

    @Argument(parsing: .postTerminator, help: "The command to run.")
    var command: [String] = []

    static let busyStatus: Int32 = 75

    func validate() throws {
        do {
            _ = try ClientName(name)
        } catch {
            throw ValidationError("'--name' is not a valid client name: 1 to 63 of A-Z a-z 0-9 space . , : ; - _")
        }
        guard !command.isEmpty else { throw ValidationError("Give the command to run after '--'.") }
    }

    func run() throws {
        try reporting {
            let directory = recorder.contains("/") ? recorder : "\(mountpoint)/\(recorder)"
            let file = "\(directory)/\(force ? "acquire_force" : "acquire")"
            // Close-on-exec: the command never inherits the lock's handle, so
            // the lock ends with this process even if the command forks.
            let handle = open(file, O_WRONLY | O_CLOEXEC)
            guard handle >= 0 else {
                throw Failure("cannot open \(file): \(errorText(errno)).")
            }
            let bytes = Array(name.utf8)
            var written: Int
            repeat { written = write(handle, bytes, bytes.count) } while written < 0 && errno == EINTR
            if written < 0 {
                let code = errno
                let label = directory.split(separator: "/").last.map(String.init) ?? directory
                if code == EBUSY {
                    let owner = readValue("\(directory)/owner") ?? ""
                    let device = readValue("\(directory)/device").map { String($0.prefix { $0 != "\n" }) }
                    let outsider = device.flatMap { FlockHolder.exclusive(ofPath: $0) }
                    let why = !owner.isEmpty ? "held by \(owner.dropLast())"
                        : outsider.map { "held outside recorderfs by \($0)" }
                        ?? "a volume of the drive is mounted, or another program holds it"
                    throw Failure("\(label) is busy: \(why).", status: Self.busyStatus)
                }
                throw Failure("cannot lock \(label): \(errorText(code)).")
            }
            // The command as the process received it: `command` holds the
            // arguments decoded as UTF-8, with any other byte replaced.
            let raw = rawArgumentsAfterTerminator()
            let status = runProgram(rawArguments: raw)
            close(handle)
            if status == 127, let program = raw.first, let program, !commandExists(cStringBytes(program)) {
                throw Failure("cannot run \(printable(cStringBytes(program))): no such command.", status: 127)
            }
            throw ExitCode(status)
        }
    }

    private func commandExists(_ name: [UInt8]) -> Bool {
        func executable(_ path: [UInt8]) -> Bool {
            (path + [0]).withUnsafeBufferPointer { $0.withMemoryRebound(to: CChar.self) { access($0.baseAddress!, X_OK) == 0 } }
        }
        if name.contains(UInt8(ascii: "/")) { return executable(name) }
        let path = getenv("PATH").map { cStringBytes($0) } ?? Array("/usr/bin:/bin".utf8)
        return path.split(separator: UInt8(ascii: ":")).contains { executable(Array($0) + [UInt8(ascii: "/")] + name) }
    }
}
