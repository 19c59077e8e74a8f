#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser

@main
struct RecorderFS: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "recorderfs",
        abstract: "The exclusive-access lock of each optical recorder, as plain files.",
        discussion: """
            Mounts a tree with one directory per recorder: read `owner` and `lockcount`, \
            write a client name to `acquire`, `acquire_force` or `release`. A lock lives as \
            long as the open file that took it.
            """,
        version: "0.1.0",
        subcommands: [Mount.self, Status.self, Hold.self, Unmount.self]
    )

    /// Errors on the command line are one sentence and a non-zero status
    /// (DESIGN §8); help and version print as usual.
    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            let code = exitCode(for: error)
            guard code != .success, !(error is ExitCode) else { exit(withError: error) }
            let message = message(for: error).split(separator: "\n").first.map(String.init) ?? "invalid command line"
            printError("recorderfs: \(message.hasPrefix("Error: ") ? String(message.dropFirst(7)) : message)")
            Glibc.exit(code.rawValue)
        }
    }
}

/// The mountpoint argument shared by the subcommands.
struct MountPointArgument: ParsableArguments {
    @Argument(help: "The mountpoint of the tree.")
    var mountPoint: String = "/recorders"
}
