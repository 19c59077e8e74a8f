#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing

extension Mounted {
    /// The command line where it used to crash, alter its input, miss a stale
    /// mount, race, round, or leave the daemon half detached.
    @Suite("Command-line hardening")
    struct CommandLineHardeningTests {
        let binary = MountEnvironment.binary

        // MARK: A failed mount

        @Test("a mount that fails as root (/dev/fuse unusable) exits 1 with one sentence and leaves nothing mounted")
        func mountFailsWithoutFuse() throws {
            try withWorkspace { workspace in
                let mountPoint = try workspace.directory("mnt")
                // In a mount namespace of its own, where /dev/fuse is /dev/null;
                // what that namespace has mounted on the mountpoint afterwards
                // is printed on stdout.
                let script = """
                    mount --bind /dev/null /dev/fuse || exit 99
                    "$0" mount "$1" --no-discover
                    status=$?
                    grep -F " $1 " /proc/self/mountinfo
                    exit $status
                    """
                let failed = try run(["unshare", "-m", "/bin/sh", "-c", script, binary, mountPoint], within: .seconds(20))
                expectOneSentence(failed)
                #expect(failed.status == 1, "\(failed)")
                #expect(failed.stderr == "recorderfs: cannot mount on \(mountPoint): mount failed: Invalid argument.\n", "\(failed)")
                #expect(failed.stdout == "", "still mounted in its namespace: \(failed)")
                #expect(mounts(at: mountPoint).isEmpty)
            }
        }

        @Test("--allow-other as a user without user_allow_other exits 1 with one sentence and leaves nothing mounted")
        func mountFailsForUserWithoutUserAllowOther() throws {
            try withWorkspace { workspace in
                try withoutUserAllowOther {
                    // uid 65534 cannot reach the build directory: a copy in the workspace.
                    let copy = "\(workspace.path)/recorderfs"
                    try run(["cp", binary, copy]).check()
                    chmod(copy, 0o755)
                    let mountPoint = try workspace.directory("mnt")
                    chown(mountPoint, 65534, 65534)
                    let failed = try run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                                          copy, "mount", mountPoint, "--no-discover", "--allow-other"], within: .seconds(20))
                    expectOneSentence(failed)
                    #expect(failed.status == 1, "\(failed)")
                    #expect(failed.stderr == "recorderfs: cannot mount on \(mountPoint): option allow_other only allowed "
                            + "if 'user_allow_other' is set in /etc/fuse.conf.\n", "\(failed)")
                    #expect(mounts(at: mountPoint).isEmpty)
                }
            }
        }

        // MARK: hold

        @Test("hold passes a program with a newline and a tab to the command, and runs it")
        func holdPassesControlCharacters() throws {
            try withRecorder { recorder in
                let shell = try run([binary, "hold", "sr0", "--mountpoint", recorder.mountPoint, "--name", "Burner", "--",
                                     "sh", "-c", "echo a\necho b"])
                #expect(shell.status == 0, "\(shell)")
                #expect(shell.stdout == "a\nb\n", "\(shell)")
                #expect(shell.stderr == "", "\(shell)")
                let awk = try run([binary, "hold", "sr0", "--mountpoint", recorder.mountPoint, "--name", "Burner", "--",
                                   "awk", "BEGIN {\tprintf \"%s\\t%s\\n\", \"left\", \"right\" }"])
                #expect(awk.status == 0, "\(awk)")
                #expect(awk.stdout == "left\tright\n", "\(awk)")
                #expect(awk.stderr == "", "\(awk)")
                try expectFree(recorder)
            }
        }

        @Test("hold passes an argument that is not UTF-8 to the command byte for byte")
        func holdPassesNonUTF8() throws {
            try withRecorder { recorder in
                let output = "\(recorder.workspace.path)/argument"
                // A Swift string cannot hold the byte 0xe9 alone: sh makes it.
                let script = """
                    exec "$0" hold sr0 --mountpoint "$1" --name Burner -- \
                    sh -c 'printf %s "$1" > "$2"' inner "$(printf 'caf\\351')" "$2"
                    """
                let held = try run(["/bin/sh", "-c", script, binary, recorder.mountPoint, output])
                #expect(held.status == 0, "\(held)")
                #expect(held.stderr == "", "\(held)")
                #expect(fileBytes(output) == [0x63, 0x61, 0x66, 0xe9], "\(fileBytes(output).map(hex) ?? "no file")")
                try expectFree(recorder)
            }
        }

        // MARK: A stale mount, however the mountpoint is written

        @Test("after SIGKILL of the daemon, mount and unmount find the stale mount as DIR/, DIR/../DIR and relative paths",
              arguments: ["trailing slash", "dot-dot", "relative", "relative with ./ and a trailing slash"])
        func staleMountSpelledOtherwise(_ spelling: String) throws {
            try withWorkspace { workspace in
                let device = try workspace.loopDevice()
                let mountPoint = try workspace.directory("mnt")
                let given = switch spelling {
                case "trailing slash": mountPoint + "/"
                case "dot-dot": mountPoint + "/../mnt"
                case "relative": "mnt"
                default: "./mnt/"
                }
                let arguments = ["--no-discover", "--device", "sr0=\(device)"]

                // unmount of the stale mount of a killed daemon.
                let first = try workspace.startDaemon(mountPoint: mountPoint, arguments)
                first.kill()
                try expectStale(mountPoint)
                let unmounted = try run(["/bin/sh", "-c", "cd \"$1\" && exec \"$0\" unmount \"$2\"", binary, workspace.path, given])
                #expect(unmounted.status == 0, "\(unmounted)")
                #expect(unmounted.stderr == "", "\(unmounted)")
                #expect(mounts(at: mountPoint).isEmpty)
                while !mounts(at: mountPoint).isEmpty { guard umount2(mountPoint, Int32(MNT_DETACH)) == 0 else { break } }

                // mount on the stale mount of a killed daemon.
                let second = try workspace.startDaemon(mountPoint: mountPoint, arguments)
                second.kill()
                try expectStale(mountPoint)
                let third = try ForegroundMount(binary, [given] + arguments, in: workspace.path, mountPoint: mountPoint,
                                                log: "\(workspace.path)/third.log")
                defer { third.stop() }
                #expect(mounts(at: mountPoint).map(\.type) == ["fuse.recorderfs"])
                #expect(try run(["cat", "\(mountPoint)/sr0/lockcount"]).check().stdout == "0\n")
                #expect(third.log.contains("removing the stale mount"), "log: \(third.log)")
                #expect(third.stop() == 0, "log: \(third.log)")
                #expect(mounts(at: mountPoint).isEmpty)
            }
        }

        @Test("status and hold on the stale mount of a killed daemon say that the daemon is gone and what to run")
        func staleMountNamed() throws {
            try withWorkspace { workspace in
                let device = try workspace.loopDevice()
                let mountPoint = try workspace.directory("mnt")
                let daemon = try workspace.startDaemon(mountPoint: mountPoint, ["--no-discover", "--device", "sr0=\(device)"])
                daemon.kill()
                try expectStale(mountPoint)
                let expected = "recorderfs: the daemon of \(mountPoint) is gone: run 'recorderfs unmount \(mountPoint)' (then mount again).\n"
                let status = try run([binary, "status", mountPoint])
                #expect(status.status == 1 && status.stderr == expected, "\(status)")
                let hold = try run([binary, "hold", "sr0", "--mountpoint", mountPoint, "--name", "A", "--", "true"])
                #expect(hold.status == 1 && hold.stderr == expected, "\(hold)")
                #expect(try run([binary, "unmount", mountPoint]).status == 0)
                #expect(mounts(at: mountPoint).isEmpty)
            }
        }

        // MARK: One mount per mountpoint

        @Test("six mounts started at once on one mountpoint: one mounts, five exit 1 with one sentence (ten times)")
        func sixMountsAtOnce() throws {
            try withWorkspace { workspace in
                let mountPoint = try workspace.directory("mnt")
                for round in 1...10 {
                    let children = try (0..<6).map { index in
                        try Child([binary, "mount", mountPoint, "--no-discover"],
                                  stdout: "\(workspace.path)/race\(round)-\(index).out",
                                  stderr: "\(workspace.path)/race\(round)-\(index).err")
                    }
                    defer {
                        for child in children where child.isRunning {
                            child.signal(SIGTERM)
                            if child.wait(within: .seconds(5)) == nil { child.end() }
                        }
                        // Two stacked mounts need two unmounts.
                        _ = poll(within: .seconds(5)) {
                            guard !mounts(at: mountPoint).isEmpty else { return true }
                            _ = umount2(mountPoint, Int32(MNT_DETACH))
                            return false
                        }
                    }
                    // Settled: each one has exited or says it has mounted.
                    let settled = poll(within: .seconds(20)) {
                        children.allSatisfy { !$0.isRunning || $0.errors.split(separator: "\n").contains { $0.hasSuffix(" mounted") } }
                    }
                    #expect(settled, "round \(round): \(children.filter(\.isRunning).count) still running")
                    let running = children.filter(\.isRunning)
                    let mounted = mounts(at: mountPoint).filter { $0.type == "fuse.recorderfs" }
                    #expect(running.count == 1, "round \(round): \(running.count) daemons run")
                    #expect(mounted.count == 1, "round \(round): \(mounts(at: mountPoint))")
                    #expect(try run(["ls", mountPoint]).check().stdout == rootListing())
                    var refusals = 0
                    for child in children where !child.isRunning {
                        #expect(child.status == 1, "round \(round): \(child.commandLine): \(String(describing: child.status)), \(child.errors)")
                        #expect(child.errors == "recorderfs: recorderfs is already mounted on \(mountPoint).\n",
                                "round \(round): \(child.errors.debugDescription)")
                        if child.status == 1 { refusals += 1 }
                    }
                    #expect(refusals == 5, "round \(round)")
                    // One round that went wrong shows the race: the rest would only repeat it.
                    if running.count != 1 || mounted.count != 1 || refusals != 5 { break }
                }
            }
        }

        // MARK: --timeout

        @Test("--timeout under 1 ms is refused with one sentence; 0.001 is a deadline a lock can be taken within")
        func timeoutRange() throws {
            try withWorkspace { workspace in
                let device = try workspace.loopDevice()
                let mountPoint = try workspace.directory("mnt")
                for value in ["0.0001", "0.0005", "3600.5"] {
                    let refused = try run([binary, "mount", mountPoint, "--no-discover", "--device", "sr0=\(device)",
                                           "--timeout", value], within: .seconds(10))
                    expectOneSentence(refused)
                    #expect(refused.stderr == "recorderfs: --timeout must be between 0.001 and 3600 seconds.\n", "\(refused)")
                    #expect(mounts(at: mountPoint).isEmpty, "--timeout \(value) mounted")
                }
                _ = try workspace.startDaemon(mountPoint: mountPoint, ["--no-discover", "--device", "sr0=\(device)", "--timeout", "0.001"])
                // One millisecond is short: a machine busy elsewhere may miss
                // it once, not five times in a row.
                var replies: [String] = []
                for _ in 0..<5 where replies.last != "OK 6" {
                    replies.append(try writeOnce("\(mountPoint)/sr0/acquire", "Burner"))
                }
                #expect(replies.last == "OK 6", "writes to acquire: \(replies)")
                #expect(replies.allSatisfy { $0 == "OK 6" || $0 == "ETIMEDOUT" }, "writes to acquire: \(replies)")
            }
        }

        // MARK: --device

        @Test("two --device names for one device are refused at start with one sentence naming both")
        func sameDeviceTwice() throws {
            try withWorkspace { workspace in
                let device = try workspace.loopDevice()
                let link = "\(workspace.path)/recorder-link"
                guard symlink(device, link) == 0 else { throw TestFailure("symlink: \(String(cString: strerror(errno)))") }
                let mountPoint = try workspace.directory("mnt")
                let refused = try run([binary, "mount", mountPoint, "--no-discover",
                                       "--device", "sr0=\(link)", "--device", "sr1=\(device)"], within: .seconds(10))
                expectOneSentence(refused)
                #expect(refused.status == 1, "\(refused)")
                #expect(refused.stderr == "recorderfs: --device sr0=\(link) and --device sr1=\(device) are the same device.\n",
                        "\(refused)")
                #expect(mounts(at: mountPoint).isEmpty)
            }
        }

        // MARK: --daemon

        @Test("the --daemon process is named recorderfs, runs in /, keeps no inherited descriptor, and logs mounted to syslog")
        func properDaemon() throws {
            try withWorkspace { workspace in
                let device = try workspace.loopDevice()
                let mountPoint = try workspace.directory("mnt")
                let caller = try workspace.directory("caller")
                let inherited = "\(workspace.path)/inherited"
                try run(["touch", inherited]).check()
                let syslog = try SyslogListener(in: workspace.path)
                defer { syslog.stop() }

                // From a working directory of its own, with descriptor 7 open.
                var script = "cd \"$1\" && exec 7<\"$2\" && exec \"$0\" mount \"$3\" --no-discover --device \"sr0=$4\" --daemon"
                var command = ["/bin/sh", "-c"]
                if syslog.bindMountedSocket != nil {
                    // /dev/log exists: the daemon's namespace gets the listener over it.
                    script = "mount --bind \"$5\" /dev/log || exit 99; " + script
                    command = ["unshare", "-m", "--propagation", "private", "/bin/sh", "-c"]
                }
                let started = try run(command + [script, binary, caller, inherited, mountPoint, device]
                                      + (syslog.bindMountedSocket.map { [$0] } ?? []))
                let daemons = processes(containing: "sr0=\(device)")
                daemons.forEach(workspace.track)
                defer {
                    if syslog.bindMountedSocket == nil { _ = try? run([binary, "unmount", mountPoint]) }
                    daemons.forEach { _ = kill($0, SIGTERM) }
                    _ = poll { daemons.allSatisfy { !isAlive($0) } }
                }
                #expect(started.status == 0, "\(started)")
                // The log goes to syslog before `mounted`: nothing on stderr.
                #expect(started.stderr == "", "\(started)")
                let pid = try #require(daemons.count == 1 ? daemons.first : nil, "daemons found: \(daemons)")

                #expect(fileText("/proc/\(pid)/comm") == "recorderfs\n")
                let arguments = (fileBytes("/proc/\(pid)/cmdline") ?? []).split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
                #expect(arguments.first?.split(separator: "/").last == "recorderfs", "argv: \(arguments)")
                #expect(Array(arguments.dropFirst()) == ["mount", mountPoint, "--no-discover", "--device", "sr0=\(device)"],
                        "argv: \(arguments)")
                #expect((try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/cwd")) == "/")
                let descriptors = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd")) ?? []
                #expect(!descriptors.isEmpty)
                let targets = descriptors.map { (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/\($0)")) ?? "" }
                #expect(!targets.contains(inherited), "descriptors: \(zip(descriptors, targets).map { "\($0.0) -> \($0.1)" })")
                #expect(!targets.contains(caller))

                let mounted = poll(within: .seconds(5)) {
                    syslog.messages.contains { $0.contains("recorderfs[\(pid)]") && $0.contains("mountpoint=\(mountPoint)") && $0.hasSuffix(" mounted") }
                }
                #expect(mounted, "syslog: \(syslog.messages)")
                if syslog.bindMountedSocket == nil {
                    #expect(try run(["cat", "\(mountPoint)/sr0/lockcount"]).check().stdout == "0\n")
                }
            }
        }
    }
}

// MARK: Helpers

/// Runs `body` with /etc/fuse.conf free of `user_allow_other`, as it was afterwards.
private func withoutUserAllowOther(_ body: () throws -> Void) throws {
    let path = "/etc/fuse.conf"
    let original = fileBytes(path)
    let text = original.map { String(decoding: $0, as: UTF8.self) } ?? ""
    let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
    guard lines.contains(where: { $0.trimmingCharacters(in: .whitespaces) == "user_allow_other" }) else {
        return try body()
    }
    let edited = lines.map { $0.trimmingCharacters(in: .whitespaces) == "user_allow_other" ? "#" + $0 : $0 }.joined(separator: "\n")
    try edited.write(toFile: path, atomically: false, encoding: .utf8)
    defer { _ = try? Data(original ?? []).write(to: URL(fileURLWithPath: path)) }
    try body()
}

/// The mount table shows a recorderfs mount at `path` whose daemon is gone.
private func expectStale(_ path: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
    #expect(mounts(at: path).map(\.type) == ["fuse.recorderfs"], sourceLocation: sourceLocation)
    #expect(try probe("os.listdir(a[0])", path) == "ENOTCONN", sourceLocation: sourceLocation)
}

/// The pids of the processes one of whose arguments is `word`.
private func processes(containing word: String) -> [pid_t] {
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
    return entries.compactMap { pid_t($0) }.filter { pid in
        let bytes = fileBytes("/proc/\(pid)/cmdline") ?? []
        return bytes.split(separator: 0).contains { Array($0) == Array(word.utf8) }
    }
}

/// `recorderfs mount ARGUMENTS` in the foreground, started from `directory`
/// (its mountpoint argument may be relative), once it has mounted on
/// `mountPoint`.
private final class ForegroundMount {
    let child: Child

    init(_ binary: String, _ arguments: [String], in directory: String, mountPoint: String, log: String) throws {
        child = try Child(["/bin/sh", "-c", "cd \"$1\" && shift && exec \"$@\"", "sh", directory, binary, "mount"] + arguments,
                          stdout: log + ".out", stderr: log)
        var exited: Int32?
        let mounted = poll(within: .seconds(10)) {
            if fileText(log).split(separator: "\n").contains(where: { $0.hasSuffix(" mounted") }) { return true }
            exited = child.wait(within: .zero)
            return exited != nil
        }
        if let exited { throw TestFailure("`\(child.commandLine)` exited with \(exited); stderr: \(fileText(log))") }
        guard mounted else {
            child.end()
            throw TestFailure("`\(child.commandLine)` did not mount within 10 s; stderr: \(fileText(log))")
        }
    }

    var log: String { child.errors }

    /// SIGTERM; the exit status, or nil if it had to be killed.
    @discardableResult
    func stop() -> Int32? {
        if let status = child.wait(within: .zero) { return status }
        child.signal(SIGTERM)
        if let status = child.wait(within: .seconds(10)) { return status }
        child.end()
        return nil
    }
}

/// A syslog daemon for one test: a unix datagram socket that keeps every
/// message. Bound at /dev/log when there is none (and removed after);
/// otherwise in the workspace, for a test to bind-mount over /dev/log in a
/// mount namespace of its own (`bindMountedSocket`).
private final class SyslogListener {
    let child: Child
    let socketPath: String
    let output: String
    /// The socket to bind over /dev/log, when /dev/log exists already.
    let bindMountedSocket: String?

    private static let script = pythonScript("syslog_listener")

    init(in directory: String) throws {
        var info = stat()
        if lstat("/dev/log", &info) != 0 && errno == ENOENT {
            socketPath = "/dev/log"
            bindMountedSocket = nil
        } else {
            socketPath = "\(directory)/log.socket"
            bindMountedSocket = socketPath
        }
        output = "\(directory)/syslog"
        child = try Child(["/usr/bin/python3", "-c", Self.script, socketPath, output],
                          stdout: "\(directory)/syslog.out", stderr: "\(directory)/syslog.err")
        guard poll(within: .seconds(10), { access(output + ".ready", F_OK) == 0 || !child.isRunning }), child.isRunning else {
            stop()
            throw TestFailure("the syslog listener did not start: \(child.errors)")
        }
    }

    var messages: [String] { fileText(output).split(separator: "\n").map(String.init) }

    func stop() {
        child.end()
        if bindMountedSocket == nil {
            var info = stat()
            if lstat(socketPath, &info) == 0 && info.st_mode & S_IFMT == S_IFSOCK { unlink(socketPath) }
        }
    }
}
