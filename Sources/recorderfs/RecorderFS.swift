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
        subcommands: [Mount.self, Status.self, Hold.self, Wait.self, Unmount.self]
    )

    /// Errors on the command line are one sentence and a non-zero status
    /// (docs/design.md §8); help and version print as usual.
    static func main() {
        FuseCommandLine.rewriteArguments()  // `SOURCE MOUNTPOINT -o OPTIONS`, as mount(8) runs it
        // The background copy of `mount --daemon` keeps nothing of its caller.
        if let readiness = ReadinessPipe.inherited { Daemon.detach(keeping: readiness.descriptor) }
        // Arguments are quoted back in messages: none may carry a control
        // byte. The command after the `--` of `hold` is not quoted, and
        // reaches the program it runs byte for byte, as with flock(1).
        var quoted = CommandLine.arguments.dropFirst()
        if quoted.first == "hold" { quoted = quoted.prefix { $0 != "--" } }
        if quoted.contains(where: { $0.utf8.contains { $0 < 0x20 || $0 == 0x7f } }) {
            printError("recorderfs: an argument holds a control character (a newline, an escape, …).")
            Glibc.exit(ExitCode.validationFailure.rawValue)
        }
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            let code = exitCode(for: error)
            guard code != .success, !(error is ExitCode) else { exit(withError: error) }
            printError("recorderfs: \(sentence(message(for: error)))")
            Glibc.exit(code.rawValue)
        }
    }

    /// The parser's message as one sentence: its first line, without the
    /// "Error: " prefix, starting in lower case and ending with a period.
    static func sentence(_ message: String) -> String {
        var text = message.split(separator: "\n").first.map(String.init) ?? "invalid command line"
        if text.hasPrefix("Error: ") { text.removeFirst(7) }
        if let first = text.first, first.isUppercase, !text.dropFirst().prefix(1).contains(where: \.isUppercase) {
            text = first.lowercased() + text.dropFirst()
        }
        if !text.hasSuffix(".") { text += "." }
        return text
    }
}

/// The mountpoint argument shared by the subcommands.
struct MountPointArgument: ParsableArguments {
    @Argument(help: "The mountpoint of the tree.")
    var mountPoint: String = "/recorders"
}
