#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser

struct Wait: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "wait",
        abstract: "Wait until a recorder is free (or held).",
        discussion: """
            Watches the recorder's owner (poll(2) for POLLPRI, no timer loop). Exits 0 once the recorder \
            is free (--free, the default) or held (--held), 1 when --timeout passes first.
            """)

    @Argument(help: "The recorder: a name under the mountpoint, or the path of a recorder directory.")
    var recorder: String

    @Flag(help: "Wait until the recorder is free (the default).")
    var free = false

    @Flag(help: "Wait until the recorder is held.")
    var held = false

    @Option(help: ArgumentHelp("Give up after SECONDS (exit 1).", valueName: "seconds"))
    var timeout: Double?

    @OptionGroup var target: MountPointOption

    func validate() throws {
        if free && held { throw ValidationError("'--free' and '--held' cannot be used together.") }
        if let timeout, !(timeout >= 0 && timeout <= 1_000_000_000) {
            throw ValidationError("'--timeout' must be between 0 and 1000000000 seconds.")
        }
    }

    func run() throws {
        let location = try locateRecorder(recorder, mountPoint: target.mountPoint)
        let deadline = timeout.map { monotonicSeconds() + $0 }
        let path = location.path("owner")
        let owner = open(path, O_RDONLY | O_CLOEXEC)
        guard owner >= 0 else { throw Failure("cannot open \(path): \(errorText(errno)).") }
        defer { close(owner) }
        while true {
            guard let value = readAgain(owner) else { throw Failure("cannot read \(path): \(errorText(errno)).") }
            if value.isEmpty != held { return }
            guard try waitForChange(owner, until: deadline) else { throw ExitCode(1) }
        }
    }
}
