#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import RecorderFUSE

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
        version: versionLine,
        subcommands: [Mount.self, Status.self, Hold.self, Wait.self, Unmount.self]
    )

    /// The version of recorderfs (semantic versioning: docs/design.md is
    /// its API; README.md, "Versions").
    static let version = "0.3.0"

    /// What `--version` and `-V` print.
    static var versionLine: String { "recorderfs \(version) (\(libfuseDescription))" }

    /// The one error path of the command line (docs/design.md §8): every
    /// command throws, and only here does an error become one sentence on
    /// stderr and an exit status. Help and version print as usual.
    static func main() {
        FuseCommandLine.rewriteArguments()  // `SOURCE MOUNTPOINT -o OPTIONS`, as mount(8) runs it
        // The background copy of `mount --daemon` keeps nothing of its caller.
        if let readiness = ReadinessPipe.inherited { Daemon.detach(keeping: readiness.descriptor) }
        do {
            try checkControlCharacters()
            let arguments = Array(CommandLine.arguments.dropFirst())
            if arguments.isEmpty {
                // No command: the usage, as an error (EX_USAGE), like other tools with a missing subcommand.
                printError(helpMessage())
                Glibc.exit(ExitCode.validationFailure.rawValue)
            }
            if arguments == ["-V"] || arguments == ["--version"] {
                print(versionLine)
                return
            }
            if arguments.first == "hold", let request = HoldRequest(quickParsing: arguments.dropFirst()) {
                try request.run()
                return
            }
            var command = try parseAsRoot(arguments)
            try command.run()
        } catch {
            exit(reporting: error)
        }
    }

    /// Arguments are quoted back in messages: none may carry a control byte.
    /// The command after the `--` of `hold` is not quoted, and reaches the
    /// program it runs byte for byte, as with flock(1).
    static func checkControlCharacters() throws {
        var quoted = CommandLine.arguments.dropFirst()
        if quoted.first == "hold" { quoted = quoted.prefix { $0 != "--" } }
        if quoted.contains(where: { $0.utf8.contains { $0 < 0x20 || $0 == 0x7f } }) {
            throw Failure("an argument holds a control character (a newline, an escape, …).",
                          status: ExitCode.validationFailure.rawValue)
        }
    }

    /// Ends the process for `error`: a `Failure` is its sentence and status;
    /// the parser's errors are their first line as a sentence and the
    /// parser's status; an `ExitCode`, help and the version are as the
    /// parser has them.
    static func exit(reporting error: Error) -> Never {
        if let code = error as? ExitCode { Glibc.exit(code.rawValue) }  // `hold`'s COMMAND status, without the parser's message machinery
        if let failure = error as? Failure {
            printError("recorderfs: \(failure.description)")
            Glibc.exit(failure.status)
        }
        let code = exitCode(for: error)
        guard code != .success else { exit(withError: error) }
        printError("recorderfs: \(sentence(message(for: error)))")
        Glibc.exit(code.rawValue)
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

/// `--mountpoint M`: how every command names the mountpoint (mount, status
/// and unmount also take it as their positional MOUNTPOINT, as fstab and
/// scripts write it).
struct MountPointOption: ParsableArguments {
    @Option(name: .customLong("mountpoint"), help: ArgumentHelp(
        "The mountpoint of the tree (default: $RECORDERFS_MOUNTPOINT, else the only recorderfs mount, else /recorders).",
        valueName: "mountpoint"))
    var mountPoint: String?

    /// The mountpoint given as `--mountpoint` or as `positional`, not both.
    func given(_ positional: String?, as name: String = "MOUNTPOINT") throws -> String? {
        if mountPoint != nil && positional != nil {
            throw ValidationError("Give the mountpoint once: as \(name) or as '--mountpoint'.")
        }
        return mountPoint ?? positional
    }
}
