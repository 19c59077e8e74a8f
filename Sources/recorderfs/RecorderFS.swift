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
}

/// The mountpoint argument shared by the subcommands.
struct MountPointArgument: ParsableArguments {
    @Argument(help: "The mountpoint of the tree.")
    var mountPoint: String = "/recorders"
}
