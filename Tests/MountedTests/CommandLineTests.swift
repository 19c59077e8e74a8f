#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing

extension Mounted {
    @Suite("The command line")
    struct CommandLineTests {
        let binary = MountEnvironment.binary

        // MARK: hold

        @Test("hold runs the command while holding the lock, and exits with its status")
        func holdRunsCommand() throws {
            try withRecorder { recorder in
                let held = try run([binary, "hold", "sr0", "--mountpoint", recorder.mountPoint, "--name", "Burner", "--",
                                    "sh", "-c", "cat \(recorder.path("owner")); cat \(recorder.path("lockcount")); exit 3"])
                #expect(held.status == 3, "\(held)")
                #expect(held.stdout == "Burner\n1\n", "\(held)")
                try expectFree(recorder)

                // A recorder directory's path works as well.
                let byPath = try run([binary, "hold", recorder.directory, "--name", "Burner", "--", "true"])
                #expect(byPath.status == 0, "\(byPath)")
                try expectFree(recorder)
            }
        }

        @Test("hold -n on a busy recorder exits 75 with one line and never runs the command")
        func holdBusy() throws {
            try withRecorder { recorder in
                let agent = try recorder.workspace.agent()
                _ = try agent.hold(recorder.path("acquire"), "Other")
                let marker = "\(recorder.workspace.path)/ran"
                let held = try run([binary, "hold", "sr0", "--mountpoint", recorder.mountPoint, "--name", "Burner", "-n", "--",
                                    "touch", marker])
                #expect(held.status == 75, "\(held)")
                #expect(held.stderr == "recorderfs: sr0 is busy: held by Other.\n", "\(held)")
                #expect(held.stdout == "", "\(held)")
                #expect(access(marker, F_OK) != 0, "the command ran")
                try expectHeld(recorder, by: "Other", count: 1)
            }
        }

        @Test("the held command inherits the lock's handle: a background child keeps the lock after hold exits, as with flock(1)")
        func holdInherited() throws {
            try withRecorder { recorder in
                let pidFile = "\(recorder.workspace.path)/sleep.pid"
                let held = try run([binary, "hold", "sr0", "--mountpoint", recorder.mountPoint, "--name", "Burner", "--",
                                    "sh", "-c", "ls -l /proc/$$/fd; sleep 30 >/dev/null 2>&1 </dev/null & echo $! > \(pidFile)"])
                let sleeper = pid_t(fileText(pidFile).trimmingNewline) ?? 0
                if sleeper > 0 { recorder.workspace.track(sleeper) }
                #expect(held.status == 0, "\(held)")
                #expect(held.stdout.contains(recorder.path("acquire_wait")), "the command has no descriptor of the lock: \(held.stdout)")
                #expect(sleeper > 0 && kill(sleeper, 0) == 0, "the background sleep is not running")
                // The sleep keeps the lock's descriptor: the lock lasts until it ends.
                try expectHeld(recorder, by: "Burner", count: 1)
                if sleeper > 0 { kill(sleeper, SIGKILL) }
                #expect(poll { (try? recorder.cat("lockcount")) == "0\n" }, "the lock outlived the sleep")
                try expectFree(recorder)
            }
        }

        @Test("hold reports a command that is not found (127) and one killed by a signal (128+N)")
        func holdStatuses() throws {
            try withRecorder { recorder in
                let missing = try run([binary, "hold", "sr0", "--mountpoint", recorder.mountPoint, "--name", "Burner", "--",
                                       "/nonexistent/command"])
                #expect(missing.status == 127, "\(missing)")
                let killed = try run([binary, "hold", "sr0", "--mountpoint", recorder.mountPoint, "--name", "Burner", "--",
                                      "sh", "-c", "kill -KILL $$"])
                #expect(killed.status == 128 + SIGKILL, "\(killed)")
                try expectFree(recorder)
            }
        }

        // MARK: status

        @Test("status prints a table with the holders, and exact JSON (schema version 1) with --json")
        func status() throws {
            try withRecorder { recorder in
                let base = try recorder.generationBase()
                let free = try run([binary, "status", recorder.mountPoint]).check()
                var lines = free.stdout.split(separator: "\n", omittingEmptySubsequences: false)
                #expect(lines.count == 3 && lines.last == "", "\(free)")
                // Issue K adds STATE.
                #expect(lines.first?.split(separator: " ") == ["RECORDER", "DEVICE", "STATE", "OWNER", "LOCKS", "GEN", "DRIVE", "CAPABILITIES"],
                        "\(free)")
                #expect(lines.dropFirst().first?.split(separator: " ") == ["sr0", Substring(recorder.device), "free", "-", "0", "\(base)", "-", "-"],
                        "\(free)")
                #expect(try run([binary, "status", recorder.mountPoint, "--json"]).check().stdout == """
                    {"claim":"advisory","mountpoint":"\(recorder.mountPoint)","recorders":[{"by-id":null,"capabilities":[],\
                    "claiming-since":null,"device":"\(recorder.device)","generation":\(base),"holders":[],"lockcount":0,"media":"",\
                    "model":"","name":"sr0","owner":null,"revision":"","serial":"","sg":"","state":"free","vendor":"","volumes":[],\
                    "waiting-for":null}],"timeout":5,"version":1}

                    """)

                let agent = try recorder.workspace.agent()
                _ = try agent.hold(recorder.path("acquire"), "MyApp")
                let held = try run([binary, "status", recorder.mountPoint]).check()
                lines = held.stdout.split(separator: "\n", omittingEmptySubsequences: false)
                #expect(lines.count == 4 && lines.last == "", "\(held)")
                #expect(lines.dropFirst().first?.split(separator: " ") == ["sr0", Substring(recorder.device), "locked", "MyApp", "1", "\(base + 1)", "-", "-"],
                        "\(held)")
                let holder = lines.dropFirst(2).first ?? ""
                #expect(holder.hasPrefix("  holder MyApp pid=\(agent.pid) uid=0 count=1 since="), "\(held)")

                let json = try run([binary, "status", recorder.mountPoint, "--json"]).check().stdout
                // "since" is the time the lock was taken: checked for its form only.
                let since = try #require(json.firstMatch(of: /"since":"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)"/)?.1, "\(json)")
                #expect(json == """
                    {"claim":"advisory","mountpoint":"\(recorder.mountPoint)","recorders":[{"by-id":null,"capabilities":[],\
                    "claiming-since":null,"device":"\(recorder.device)","generation":\(base + 1),\
                    "holders":[{"count":1,"name":"MyApp","pid":\(agent.pid),"since":"\(since)","uid":0}],"lockcount":1,\
                    "media":"","model":"","name":"sr0","owner":"MyApp","revision":"","serial":"","sg":"","state":"locked",\
                    "vendor":"","volumes":[],"waiting-for":null}],"timeout":5,"version":1}

                    """)
            }
        }

        @Test("status of a directory that is not a recorderfs mount fails with one sentence")
        func statusNotMounted() throws {
            try withWorkspace { workspace in
                expectOneSentence(try run([binary, "status", try workspace.directory("plain")]))
            }
        }

        // MARK: mount --virtual --daemon, unmount

        @Test("mount --virtual --daemon returns with the tree ready, by-id/recorderfs-virtual-v0 included; unmount ends the daemon and detaches the loop device")
        func virtualDaemon() throws {
            try withWorkspace { workspace in
                let mountPoint = try workspace.directory("mnt")
                let started = try run([binary, "mount", mountPoint, "--no-discover", "--virtual", "v0", "--daemon"])
                let daemons = processes(withArguments: [binary, "mount", mountPoint])
                daemons.forEach(workspace.track)
                #expect(started.status == 0, "\(started)")
                #expect(daemons.count == 1, "daemons found: \(daemons)")

                // Ready when --daemon returns: no polling.
                #expect(try run(["ls", mountPoint]).check().stdout == rootListing("v0"))
                let device = try run(["cat", "\(mountPoint)/v0/device"]).check().stdout.trimmingNewline
                #expect(device.hasPrefix("/dev/loop") && Int(device.dropFirst("/dev/loop".count)) != nil, "device \(device)")
                #expect(try run(["cat", "\(mountPoint)/v0/lockcount"]).check().stdout == "0\n")
                // Issue G: a virtual recorder has a by-id link, as a drive does.
                #expect(try run(["readlink", "\(mountPoint)/by-id/recorderfs-virtual-v0"]).check().stdout == "../v0\n")
                #expect(try run(["cat", "\(mountPoint)/by-id/recorderfs-virtual-v0/lockcount"]).check().stdout == "0\n")
                let backing = try run(["losetup", "-n", "-O", "BACK-FILE", device]).check().stdout
                #expect(!backing.isEmpty, "losetup does not list \(device)")

                let unmounted = try run([binary, "unmount", mountPoint])
                #expect(unmounted.status == 0, "\(unmounted)")
                #expect(mounts(at: mountPoint).isEmpty)
                #expect(poll { daemons.allSatisfy { !isAlive($0) } }, "the daemon did not exit after unmount")
                let detached = try poll {
                    let listed = try run(["losetup", "-n", "-O", "BACK-FILE", device])
                    return listed.status != 0 || listed.stdout != backing
                }
                #expect(detached, "\(device) is still attached to \(backing)")
            }
        }

        // MARK: errors

        @Test("mount on a missing mountpoint fails with one sentence")
        func missingMountPoint() throws {
            try withWorkspace { workspace in
                let missing = "\(workspace.path)/missing"
                expectOneSentence(try run([binary, "mount", missing, "--no-discover"], within: .seconds(10)))
                #expect(access(missing, F_OK) != 0)
            }
        }

        @Test("mount on a file fails with one sentence")
        func mountPointNotDirectory() throws {
            try withWorkspace { workspace in
                let file = "\(workspace.path)/file"
                try run(["touch", file]).check()
                expectOneSentence(try run([binary, "mount", file, "--no-discover"], within: .seconds(10)))
            }
        }

        @Test("mount over another file system's mountpoint mounts on top, as mount(8) does; unmount shows it again")
        func mountOverAnotherMount() throws {
            try withWorkspace { workspace in
                let device = try workspace.loopDevice()
                let mountPoint = try workspace.directory("mnt")
                try run(["mount", "-t", "tmpfs", "-o", "size=1m", "recorderfs-test", mountPoint]).check()
                defer { _ = try? run(["umount", mountPoint]) }
                try run(["touch", "\(mountPoint)/below"]).check()
                let started = try run([binary, "mount", mountPoint, "--no-discover", "--device", "sr0=\(device)", "--daemon"])
                #expect(started.status == 0 && started.stderr.isEmpty, "\(started)")
                #expect(mounts(at: mountPoint).map(\.type) == ["tmpfs", "fuse.recorderfs"])
                #expect(try run(["cat", "\(mountPoint)/sr0/lockcount"]).check().stdout == "0\n")
                #expect(try run([binary, "unmount", mountPoint]).status == 0)
                #expect(mounts(at: mountPoint).map(\.type) == ["tmpfs"])
                #expect(try run(["ls", mountPoint]).check().stdout == "below\n")
            }
        }

        @Test("--device without NAME= is refused")
        func deviceWithoutName() throws {
            try withWorkspace { workspace in
                let mountPoint = try workspace.directory("mnt")
                let refused = try run([binary, "mount", mountPoint, "--no-discover", "--device", "bad"], within: .seconds(10))
                #expect(refused.status != 0, "\(refused)")
                #expect(!refused.stderr.isEmpty, "\(refused)")
                #expect(mounts(at: mountPoint).isEmpty)
            }
        }

        @Test("--device on a file that is not a block device fails with one sentence")
        func deviceNotBlock() throws {
            try withWorkspace { workspace in
                let mountPoint = try workspace.directory("mnt")
                let refused = try run([binary, "mount", mountPoint, "--no-discover", "--device", "sr0=/etc/passwd"],
                                      within: .seconds(10))
                expectOneSentence(refused)
                #expect(mounts(at: mountPoint).isEmpty)
            }
        }

        @Test("a second mount on the same mountpoint fails with one sentence; the first still works")
        func mountTwice() throws {
            try withRecorder { recorder in
                let second = try run([binary, "mount", recorder.mountPoint, "--no-discover", "--device", "sr1=\(recorder.device)"],
                                     within: .seconds(10))
                expectOneSentence(second)
                #expect(recorder.daemon.child.isRunning)
                #expect(mounts(at: recorder.mountPoint).count == 1)
                #expect(try run(["ls", recorder.mountPoint]).check().stdout == rootListing("sr0"))
                try expectFree(recorder)
            }
        }

        @Test("unmount of a directory that is not a recorderfs mount fails")
        func unmountNotMounted() throws {
            try withWorkspace { workspace in
                let unmounted = try run([binary, "unmount", try workspace.directory("plain")])
                expectOneSentence(unmounted)
            }
        }

        @Test("unmount of a tree in use names who uses it and unmounts nothing; --lazy detaches it, and the daemon ends at the last close")
        func unmountBusy() throws {
            try withRecorder { recorder in
                let agent = try recorder.workspace.agent()
                let descriptor = try agent.openDescriptor(recorder.path("owner"), .readOnly)
                let busy = try run([binary, "unmount", recorder.mountPoint])
                #expect(busy.status == 1, "\(busy)")
                #expect(busy.stderr == "recorderfs: \(recorder.mountPoint) is busy: used by pid \(agent.pid) (python3); "
                        + "end them, or run 'recorderfs unmount --lazy \(recorder.mountPoint)'.\n", "\(busy)")
                #expect(try run(["cat", recorder.path("lockcount")]).check().stdout == "0\n")

                let lazy = try run([binary, "unmount", "--lazy", recorder.mountPoint])
                #expect(lazy.status == 0 && lazy.stderr.isEmpty, "\(lazy)")
                #expect(mounts(at: recorder.mountPoint).isEmpty)
                #expect(try agent.read(descriptor) == .ok(0))  // the open file is still served
                #expect(recorder.daemon.child.isRunning)
                _ = try agent.close(descriptor)
                #expect(recorder.daemon.child.wait(within: .seconds(10)) == 0, "log: \(recorder.daemon.log)")
            }
        }

        @Test("recorderfs with no command prints its usage on stderr and exits 64, as with any other usage error")
        func noCommand() throws {
            let bare = try run([binary])
            #expect(bare.status == 64, "\(bare)")
            #expect(bare.stdout.isEmpty, "\(bare)")
            #expect(bare.stderr.hasPrefix("OVERVIEW: ") && bare.stderr.contains("\nUSAGE: recorderfs <subcommand>")
                    && bare.stderr.contains("  hold "), "\(bare)")
        }

        @Test("hold with an invalid name or no command fails without locking")
        func holdUsageErrors() throws {
            try withRecorder { recorder in
                let badName = try run([binary, "hold", "sr0", "--mountpoint", recorder.mountPoint, "--name", "a/b", "--", "true"])
                #expect(badName.status == 64, "\(badName)")
                #expect(badName.stderr == "recorderfs: 'a/b' is not a valid client name for '--name': 1 to 63 of A-Z a-z 0-9 space . , : ; - _.\n")
                let noCommand = try run([binary, "hold", "sr0", "--mountpoint", recorder.mountPoint, "--name", "A"])
                #expect(noCommand.status == 64, "\(noCommand)")
                expectOneSentence(noCommand)
                let noRecorder = try run([binary, "hold", "sr9", "--mountpoint", recorder.mountPoint, "--name", "A", "--", "true"])
                expectOneSentence(noRecorder)
                try expectFree(recorder)
            }
        }
    }
}

/// The pids of the processes whose command line starts with `arguments`.
func processes(withArguments arguments: [String]) -> [pid_t] {
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
    return entries.compactMap { pid_t($0) }.filter { pid in
        let bytes = fileBytes("/proc/\(pid)/cmdline") ?? []
        let words = bytes.split(separator: 0, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
        return words.count >= arguments.count && Array(words.prefix(arguments.count)) == arguments
    }
}

/// Whether `pid` still runs (a zombie nobody reaped counts as ended).
func isAlive(_ pid: pid_t) -> Bool {
    guard kill(pid, 0) == 0 else { return false }
    let stat = fileText("/proc/\(pid)/stat")
    guard let close = stat.lastIndex(of: ")") else { return false }
    return !stat[close...].hasPrefix(") Z")
}
