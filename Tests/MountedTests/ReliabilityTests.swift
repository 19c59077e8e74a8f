#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing

extension Mounted {
    /// Issue H: what a hostile user, a careless administrator and a slow drive
    /// did to a mount, each as a regression test.
    @Suite("Reliability under attack")
    struct ReliabilityTests {
        /// The number of threads of process `pid`.
        static func threads(of pid: pid_t) -> Int? {
            fileText("/proc/\(pid)/status").split(separator: "\n")
                .first { $0.hasPrefix("Threads:") }
                .flatMap { Int($0.split(separator: "\t").last ?? "") }
        }

        /// The resident memory of process `pid`, in KiB.
        static func residentKiB(of pid: pid_t) -> Int? {
            fileText("/proc/\(pid)/status").split(separator: "\n")
                .first { $0.hasPrefix("VmRSS:") }
                .flatMap { Int($0.split(separator: " ").dropFirst().first ?? "") }
        }

        /// Whether process `pid` is blocked in a write(2) (x86_64: syscall 1).
        static func isWriting(_ pid: pid_t) -> Bool {
            fileText("/proc/\(pid)/syscall").hasPrefix("1 ")
        }

        /// H1: opens and closes `acquire` of sr0 N times without writing;
        /// after each close reads sr1/owner and sr0/lockcount. Prints the
        /// reads' count and the slowest one, in seconds.
        static let locklessCloses = pythonScript("lockless_closes")

        @Test("H1: a claim stuck on sr0 and 200 lockless handles of sr0 closed meanwhile: every read of sr1 and sr0 answers before the claim ends, threads stay few")
        func slowClaimStallsNobody() throws {
            try withWorkspace { workspace in
                let stuckDevice = try workspace.loopDevice()
                let otherDevice = try workspace.loopDevice()
                let mountPoint = try workspace.directory("mnt")
                let daemon = try workspace.startDaemon(mountPoint: mountPoint, [
                    "--no-discover", "--device", "sr0=\(stuckDevice)", "--device", "sr1=\(otherDevice)", "--timeout", "3",
                    "--allow-other",
                ])
                let stuck = MountedRecorder(workspace: workspace, mountPoint: mountPoint, device: stuckDevice, daemon: daemon)
                let other = MountedRecorder(workspace: workspace, mountPoint: mountPoint, device: otherDevice, daemon: daemon,
                                            name: "sr1")
                let member = asNobody(group: try diskGroup())
                _ = try workspace.agent().hold(other.path("acquire"), "Other")

                // A member of the device's group holds a shared flock on the node.
                let blocker = try workspace.agent(user: member)
                let node = try blocker.openDescriptor(stuckDevice, .readOnly)
                #expect(try blocker.flock(node, .shared) == .ok(0))
                let threadsBefore = Self.threads(of: daemon.child.pid) ?? 0

                let claim = try Child(member + ["/usr/bin/python3", "-c", DeadlineTests.timedWrite, stuck.path("acquire"), "X"],
                                      stdout: "\(workspace.path)/claim.out", stderr: "\(workspace.path)/claim.err")
                defer { claim.end() }
                let writing = poll(within: .seconds(10)) { Self.isWriting(claim.pid) || !claim.isRunning }
                #expect(writing && claim.isRunning, "the claim: \(claim.output.debugDescription) \(claim.errors)")

                let closes = try run(member + ["/usr/bin/python3", "-c", Self.locklessCloses, stuck.path("acquire"),
                                               other.path("owner"), stuck.path("lockcount"), "200"], within: .seconds(60))
                let claimRunning = claim.isRunning
                let threadsDuring = Self.threads(of: daemon.child.pid) ?? 0
                #expect(closes.status == 0, "\(closes)")
                #expect(closes.stdout.hasPrefix("400 "), "\(closes.stdout)")
                #expect(claimRunning, "the 200 closes and 400 reads ended after the claim did: they waited for it (slowest read \(closes.stdout))")
                #expect(threadsDuring <= threadsBefore + 8, "the daemon went from \(threadsBefore) to \(threadsDuring) threads")

                #expect(claim.wait(within: .seconds(10)) == 0, "\(claim.errors)")
                #expect(DeadlineTests.timedOutcome(claim.output)?.0 == "ETIMEDOUT", "\(claim.output)")
                #expect(try other.cat("owner") == "Other\n")
                try expectFree(stuck)
            }
        }

        /// The generation of a recorder while `agent` holds it.
        static func lockedGeneration(_ recorder: MountedRecorder, _ agent: Agent) throws -> UInt64 {
            let handle = try agent.hold(recorder.path("acquire"), "Fenced")
            defer { _ = try? agent.close(handle) }
            let text = try recorder.cat("generation")
            guard let value = UInt64(text.trimmingNewline) else { throw TestFailure("generation: \(text.debugDescription)") }
            return value
        }

        @Test("H2: generation grows across a SIGKILL of the daemon and across a clean unmount")
        func generationNeverRepeats() throws {
            try withWorkspace { workspace in
                let device = try workspace.loopDevice()
                let mountPoint = try workspace.directory("mnt")
                let arguments = ["--no-discover", "--device", "sr0=\(device)"]
                let agent = try workspace.agent()
                func mounted() throws -> MountedRecorder {
                    MountedRecorder(workspace: workspace, mountPoint: mountPoint, device: device,
                                    daemon: try workspace.startDaemon(mountPoint: mountPoint, arguments))
                }

                var recorder = try mounted()
                let first = try Self.lockedGeneration(recorder, agent)
                let second = try Self.lockedGeneration(recorder, agent)
                #expect(second == first + 1, "within a mount, one more per free → locked")

                recorder.daemon.kill()
                recorder = try mounted()
                let afterKill = try Self.lockedGeneration(recorder, agent)
                #expect(afterKill > second, "after SIGKILL: \(afterKill), before: \(second)")

                #expect(recorder.daemon.stop() == 0)
                recorder = try mounted()
                let free = UInt64(try recorder.cat("generation").trimmingNewline) ?? 0
                #expect(free > afterKill, "a fresh mount shows \(free), the last one showed \(afterKill)")
                let afterStop = try Self.lockedGeneration(recorder, agent)
                #expect(afterStop == free + 1, "after a clean stop: \(afterStop)")
            }
        }

        /// H3: opens `path` until the open fails, keeping every descriptor, and
        /// reads one byte through each; prints how many opened and the errno.
        static let openUntilRefused = pythonScript("open_until_refused")

        @Test("H3: value files count in the per-user handle limit; a user at the limit costs little memory and stops nobody else")
        func valueHandlesAreLimited() throws {
            try withRecorder(["--allow-other"]) { recorder in
                let agent = try recorder.workspace.agent()
                _ = try agent.hold(recorder.path("acquire"), "Holder")
                let rssBefore = Self.residentKiB(of: recorder.daemon.child.pid) ?? 0
                // uid 65534 without the disk group: reads are for everyone.
                var ends: [Int32] = [0, 0]
                #expect(pipe(&ends) == 0)
                _ = fcntl(ends[1], F_SETFD, FD_CLOEXEC)
                let reader = try Child(asNobody(group: 65534) + ["/usr/bin/python3", "-c", Self.openUntilRefused,
                                                                recorder.path("holders"), recorder.path("owner"),
                                                                recorder.path("volumes")],
                                       input: ends[0], stdout: "\(recorder.workspace.path)/reader.out",
                                       stderr: "\(recorder.workspace.path)/reader.err")
                close(ends[0])
                defer {
                    close(ends[1])
                    reader.end()
                }
                let answered = poll(within: .seconds(60)) { reader.output.hasSuffix("\n") || !reader.isRunning }
                #expect(answered, "\(reader.errors)")
                #expect(reader.output == "1024 EMFILE\n", "opened until: \(reader.output.debugDescription) \(reader.errors)")
                let rssAfter = Self.residentKiB(of: recorder.daemon.child.pid) ?? Int.max
                #expect(rssAfter - rssBefore < 64 * 1024, "RSS went from \(rssBefore) to \(rssAfter) KiB")

                // Others keep working meanwhile: root, and another uid.
                try expectHeld(recorder, by: "Holder", count: 1)
                #expect(try probe("os.read(os.open(a[0], os.O_RDONLY), 64)", recorder.path("owner"),
                                  user: ["setpriv", "--reuid=65533", "--regid=65533", "--clear-groups"]) == "OK")
                close(ends[1])
                #expect(reader.wait(within: .seconds(10)) == 0)
                // Its handles are counted out again once closed.
                let again = try run(asNobody(group: 65534) + ["/usr/bin/python3", "-c", Self.openUntilRefused,
                                                              recorder.path("owner")], within: .seconds(60))
                #expect(again.stdout == "1024 EMFILE\n", "\(again)")
            }
        }

        @Test("H5: a --device symlink re-pointed at another device: ENODEV and a log line; the other device is left alone")
        func repointedDeviceIsRefused() throws {
            try withWorkspace { workspace in
                let drive = try workspace.loopDevice()
                let victim = try workspace.loopDevice(volume: true)
                let volume = try workspace.directory("volume")
                try run(["mount", victim, volume]).check()
                let link = "\(workspace.path)/cd"
                #expect(symlink(drive, link) == 0)
                let mountPoint = try workspace.directory("mnt")
                let daemon = try workspace.startDaemon(mountPoint: mountPoint, ["--no-discover", "--device", "cd=\(link)"])
                let recorder = MountedRecorder(workspace: workspace, mountPoint: mountPoint, device: drive, daemon: daemon,
                                               name: "cd")
                // The user re-points the link at the other device.
                #expect(unlink(link) == 0 && symlink(victim, link) == 0)
                #expect(try writeOnce(recorder.path("acquire_force"), "Thief") == "ENODEV")
                #expect(try writeOnce(recorder.path("acquire"), "Thief") == "ENODEV")
                try expectFree(recorder)
                #expect(mounts(at: volume).count == 1, "the other device's volume was unmounted")
                #expect(try probe("fcntl.flock(os.open(a[0], os.O_RDONLY), fcntl.LOCK_EX | fcntl.LOCK_NB)", victim) == "OK",
                        "the daemon holds a flock on the other device")
                let logged = poll(within: .seconds(5)) { !daemon.logLines(containing: "not the recorder's").isEmpty }
                #expect(logged, "log: \(daemon.log)")
                // Pointed back, it is the recorder again.
                #expect(unlink(link) == 0 && symlink(drive, link) == 0)
                let agent = try workspace.agent()
                _ = try agent.hold(recorder.path("acquire"), "Owner")
                try expectHeld(recorder, by: "Owner", count: 1)
                _ = umount2(volume, 0)
            }
        }

        @Test("H10: an exclusive flock held outside recorderfs: EBUSY at once, naming the process in the log")
        func exclusiveOutsideHolderIsBusy() throws {
            try withRecorder { recorder in
                let outsider = try recorder.workspace.agent()
                let node = try outsider.openDescriptor(recorder.device, .readOnly)
                #expect(try outsider.flock(node, .exclusive) == .ok(0))
                try DeadlineTests.expectBusyAtOnce(recorder.path("acquire"), "Burner")
                let named = poll(within: .seconds(5)) {
                    !recorder.daemon.logLines(containing: "refused", "held outside recorderfs by pid \(outsider.pid) (python3)").isEmpty
                }
                #expect(named, "log: \(recorder.daemon.log)")
                try expectFree(recorder)
                // hold names it too.
                let hold = try run([MountEnvironment.binary, "hold", "sr0", "--mountpoint", recorder.mountPoint,
                                    "--name", "Burner", "--", "true"])
                #expect(hold.status == 75, "\(hold)")
                #expect(hold.stderr == "recorderfs: sr0 is busy: held outside recorderfs by pid \(outsider.pid) (python3).\n",
                        "\(hold)")
                // Let go, the drive can be locked.
                #expect(try outsider.close(node) == .ok(0))
                let agent = try recorder.workspace.agent()
                _ = try agent.hold(recorder.path("acquire"), "Burner")
                try expectHeld(recorder, by: "Burner", count: 1)
            }
        }

        @Test("H10: a second recorderfs holding the same drive: EBUSY at once, naming it")
        func secondDaemonIsBusy() throws {
            try withRecorder { recorder in
                let mountPoint = try recorder.workspace.directory("second")
                let daemon = try recorder.workspace.startDaemon(mountPoint: mountPoint,
                                                                ["--no-discover", "--device", "sr0=\(recorder.device)"])
                let agent = try recorder.workspace.agent()
                _ = try agent.hold("\(mountPoint)/sr0/acquire", "First")
                try DeadlineTests.expectBusyAtOnce(recorder.path("acquire"), "Second")
                let named = poll(within: .seconds(5)) {
                    !recorder.daemon.logLines(containing: "refused", "held outside recorderfs by pid \(daemon.child.pid)").isEmpty
                }
                #expect(named, "log: \(recorder.daemon.log)")
            }
        }
    }
}
