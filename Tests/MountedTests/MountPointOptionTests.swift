#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing

/// `recorderfs --version` and `-V` (issue G): no mount needed.
@Suite("recorderfs --version")
struct VersionTests {
    @Test("--version and -V print the version and libfuse's, and exit 0")
    func version() throws {
        for flag in ["--version", "-V"] {
            let printed = try run([MountEnvironment.binary, flag])
            #expect(printed.status == 0 && printed.stderr == "", "\(printed)")
            #expect(printed.stdout.wholeMatch(of: /recorderfs 0\.3\.0 \(libfuse \d+\.\d+(\.\d+)?\)\n/) != nil, "\(printed)")
        }
    }
}

extension Mounted {
    /// One way to name the mountpoint: `--mountpoint M` in every command
    /// (issue J6), the positional MOUNTPOINT of mount, status and unmount
    /// kept, the two never together.
    @Suite("--mountpoint in every command")
    struct MountPointOptionTests {
        let binary = MountEnvironment.binary

        @Test("mount, status, hold, wait and unmount each take --mountpoint")
        func everyCommand() throws {
            try withWorkspace { workspace in
                let mountPoint = try workspace.directory("mnt")
                let started = try run([binary, "mount", "--mountpoint", mountPoint, "--no-discover", "--virtual", "v0", "--daemon"])
                let daemons = processes(withArguments: [binary, "mount", "--mountpoint", mountPoint])
                daemons.forEach(workspace.track)
                #expect(started.status == 0, "\(started)")
                #expect(mounts(at: mountPoint).count == 1)

                let status = try run([binary, "status", "--mountpoint", mountPoint]).check()
                #expect(status.stdout.split(separator: "\n").map { $0.split(separator: " ").first } == ["RECORDER", "v0"], "\(status)")
                let json = try run([binary, "status", "--mountpoint", mountPoint, "--json"]).check().stdout
                #expect(json.hasPrefix("{\"claim\":\"advisory\",\"mountpoint\":\"\(mountPoint)\","), "\(json)")
                #expect(json.hasSuffix(",\"timeout\":5,\"version\":1}\n"), "\(json)")

                let held = try run([binary, "hold", "v0", "--mountpoint", mountPoint, "--name", "Burner", "--",
                                    "cat", "\(mountPoint)/v0/owner"])
                #expect(held.status == 0 && held.stdout == "Burner\n", "\(held)")
                let waited = try run([binary, "wait", "v0", "--mountpoint", mountPoint, "--free"], within: .seconds(5))
                #expect(waited.status == 0 && waited.stderr == "", "\(waited)")

                // $RECORDERFS_MOUNTPOINT stands in for --mountpoint in status.
                let fromVariable = try run(["env", "RECORDERFS_MOUNTPOINT=\(mountPoint)", binary, "status", "--json"]).check()
                let fromOption = try run([binary, "status", "--mountpoint", mountPoint, "--json"]).check()
                #expect(fromVariable.stdout == fromOption.stdout, "\(fromVariable)")

                let unmounted = try run([binary, "unmount", "--mountpoint", mountPoint])
                #expect(unmounted.status == 0 && unmounted.stderr == "", "\(unmounted)")
                #expect(mounts(at: mountPoint).isEmpty)
                #expect(poll { daemons.allSatisfy { !isAlive($0) } }, "the daemon did not exit after unmount")
            }
        }

        @Test("MOUNTPOINT and --mountpoint together are refused with one sentence (mount, status, unmount)")
        func both() throws {
            try withRecorder { recorder in
                let mountPoint = recorder.mountPoint
                for command in [["mount", mountPoint, "--mountpoint", mountPoint, "--no-discover"],
                                ["status", mountPoint, "--mountpoint", mountPoint],
                                ["unmount", mountPoint, "--mountpoint", mountPoint]] {
                    let refused = try run([binary] + command)
                    expectOneSentence(refused)
                    #expect(refused.status == 64 && refused.stderr.contains("give the mountpoint once"), "\(refused)")
                }
                // Nothing was unmounted.
                #expect(mounts(at: mountPoint).count == 1)
                try expectFree(recorder)
            }
        }

        @Test("a --mountpoint that is not a recorderfs mount fails with one sentence naming it")
        func notMounted() throws {
            try withWorkspace { workspace in
                let plain = try workspace.directory("plain")
                for command in [["status"], ["unmount"], ["wait", "sr0"], ["hold", "sr0", "--name", "Burner"]] {
                    let refused = try run([binary] + command + ["--mountpoint", plain] + (command[0] == "hold" ? ["--", "true"] : []))
                    expectOneSentence(refused)
                    #expect(refused.stderr == "recorderfs: \(plain) is not a recorderfs mount.\n", "\(refused)")
                }
            }
        }
    }
}
