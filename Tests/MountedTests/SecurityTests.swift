#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing

extension Mounted {
    /// Issue F, part 4: who may do what (docs/design.md §6), names that cannot
    /// inject anything, and a uid that cannot exhaust the daemon
    /// (Sources/RecorderCore/UsageLimits.swift). The loop nodes are
    /// root:disk 0660, as a recorder's node is root:cdrom 0660.
    @Suite("Security")
    struct SecurityTests {
        /// A uid of the node's group that is not nobody.
        static let otherUID = 65533

        static func member(_ uid: Int = 65534) throws -> [String] {
            ["setpriv", "--reuid=\(uid)", "--regid=\(try diskGroup())", "--clear-groups"]
        }

        /// A uid outside the node's group.
        static let outsider = asNobody(group: 65534)

        /// Checks the node is root:disk 0660 before anything is mounted.
        static func expectNodeMode(_ device: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
            let disk = try diskGroup()
            var info = stat()
            #expect(stat(device, &info) == 0, sourceLocation: sourceLocation)
            #expect(info.st_uid == 0 && info.st_gid == disk && info.st_mode & 0o7777 == 0o660,
                    "\(device): \(info.st_uid):\(info.st_gid) \(String(info.st_mode & 0o7777, radix: 8))", sourceLocation: sourceLocation)
        }

        /// sr0 on a root:disk 0660 loop device, mounted with `options`.
        static func withGroupRecorder(_ options: [String] = ["--allow-other"], _ body: (MountedRecorder) throws -> Void) throws {
            try withWorkspace { workspace in
                let device = try workspace.loopDevice()
                try expectNodeMode(device)
                let mountPoint = try workspace.directory("mnt")
                let daemon = try workspace.startDaemon(
                    mountPoint: mountPoint, MountedRecorder.arguments + ["--device", "sr0=\(device)"] + options)
                try body(MountedRecorder(workspace: workspace, mountPoint: mountPoint, device: device, daemon: daemon))
            }
        }

        // MARK: The node's group

        @Test("a member of the node's group can lock and release; a uid outside it gets EACCES on open of the control files")
        func groupDecides() throws {
            try Self.withGroupRecorder { recorder in
                let member = try Self.member()
                let agent = try recorder.workspace.agent(user: member)
                let handle = try agent.hold(recorder.path("acquire"), "Member")
                try expectHeld(recorder, by: "Member", count: 1)
                #expect(try run(member + ["cat", recorder.path("owner")]).check().stdout == "Member\n")
                #expect(try recorder.cat("holders").hasPrefix("Member pid=\(agent.pid) uid=65534 count=1 since="))
                #expect(try writeOnce(recorder.path("release"), "Member", user: member) == "OK 6")
                try expectFree(recorder)
                #expect(try agent.write(handle, "Member") == .ok(6))
                // One handle, one holder: the member's own second handle is refused.
                #expect(try writeOnce(recorder.path("acquire_force"), "Member", user: member) == "EBUSY")
                try expectHeld(recorder, by: "Member", count: 1)
                #expect(try agent.close(handle) == .ok(0))
                try expectFree(recorder)
                #expect(try writeOnce(recorder.path("acquire_force"), "Member", user: member) == "OK 6")
                try expectFree(recorder)

                for file in TreeTests.controlFiles {
                    #expect(try probe("os.open(a[0], os.O_WRONLY)", recorder.path(file), user: Self.outsider) == "EACCES", "\(file)")
                }
                #expect(try writeOnce(recorder.path("acquire"), "Outsider", user: Self.outsider) == "open EACCES")
                #expect(try writeOnce(recorder.path("release"), "Outsider", user: Self.outsider) == "open EACCES")
                // Reading is for everyone who can see the tree.
                #expect(try run(Self.outsider + ["cat", recorder.path("lockcount")]).check().stdout == "0\n")
                #expect(try run(Self.outsider + ["ls", recorder.directory]).check().stdout
                    == TreeTests.allFiles.sorted().map { $0 + "\n" }.joined())
                try expectFree(recorder)
            }
        }

        @Test("no uid can release another uid's lock (EPERM, nothing changes); root can")
        func releaseIsTheHolders() throws {
            try Self.withGroupRecorder { recorder in
                let nobody = try Self.member()
                let other = try Self.member(Self.otherUID)
                // nobody holds; the other uid and nobody's name do not help.
                let agent = try recorder.workspace.agent(user: nobody)
                let handle = try agent.hold(recorder.path("acquire"), "Alpha")
                #expect(try agent.write(handle, "Alpha") == .ok(5))
                #expect(try writeOnce(recorder.path("release"), "Alpha", user: other) == "EPERM")
                #expect(try writeOnce(recorder.path("release"), "Alpha\n", user: other) == "EPERM")
                #expect(try writeOnce(recorder.path("release"), "Beta", user: other) == "ENOLCK")
                try expectHeld(recorder, by: "Alpha", count: 2)
                // Root may release, one lock at a time.
                #expect(try writeOnce(recorder.path("release"), "Alpha") == "OK 5")
                try expectHeld(recorder, by: "Alpha", count: 1)
                #expect(try agent.close(handle) == .ok(0))
                try expectFree(recorder)

                // The other way round, and a lock of root's.
                let otherAgent = try recorder.workspace.agent(user: other)
                let otherHandle = try otherAgent.hold(recorder.path("acquire"), "Beta")
                #expect(try writeOnce(recorder.path("release"), "Beta", user: nobody) == "EPERM")
                try expectHeld(recorder, by: "Beta", count: 1)
                #expect(try otherAgent.close(otherHandle) == .ok(0))
                let root = try recorder.workspace.agent()
                let rootHandle = try root.hold(recorder.path("acquire"), "Gamma")
                #expect(try writeOnce(recorder.path("release"), "Gamma", user: nobody) == "EPERM")
                #expect(try writeOnce(recorder.path("release"), "Gamma", user: other) == "EPERM")
                try expectHeld(recorder, by: "Gamma", count: 1)
                #expect(try root.close(rootHandle) == .ok(0))
                try expectFree(recorder)
            }
        }

        @Test("without --allow-other, other users cannot see the tree: EACCES on listing, stat, reading and opening")
        func withoutAllowOther() throws {
            try Self.withGroupRecorder([]) { recorder in
                let member = try Self.member()
                for user in [member, Self.outsider] {
                    #expect(try probe("os.listdir(a[0])", recorder.mountPoint, user: user) == "EACCES")
                    #expect(try probe("os.listdir(a[0])", recorder.directory, user: user) == "EACCES")
                    #expect(try probe("os.stat(a[0])", recorder.path("owner"), user: user) == "EACCES")
                    #expect(try probe("open(a[0]).read()", recorder.path("owner"), user: user) == "EACCES")
                    #expect(try probe("open(a[0]).read()", recorder.path("lockcount"), user: user) == "EACCES")
                    #expect(try writeOnce(recorder.path("acquire"), "Stranger", user: user) == "open EACCES")
                    #expect(try writeOnce(recorder.path("release"), "Stranger", user: user) == "open EACCES")
                }
                // The user who mounted (root) sees everything.
                #expect(try run(["ls", recorder.mountPoint]).check().stdout == rootListing("sr0"))
                try expectFree(recorder)
            }
        }

        // MARK: Names cannot inject

        /// Payloads that would forge a line, move the cursor, or colour a
        /// terminal if echoed; "Injected" marks them all.
        static let injections: [[UInt8]] = [
            Array("Evil\nInjected".utf8),
            Array("Evil\nInjected\n".utf8),
            Array("\nInjected".utf8),
            Array("Injected\n\n".utf8),
            Array("Evil\rInjected".utf8),
            Array("Injected\r".utf8),
            Array("Injected\r\n".utf8),
            Array("Evil".utf8) + [0x1b] + Array("[2JInjected".utf8),
            [0x1b] + Array("]0;Injected".utf8) + [0x07],
            Array("Injected".utf8) + [0x1b, 0x5b, 0x31, 0x41],
            Array("2026-11-25T15:00:00+0000 notice recorderfs: Injected\n".utf8) + Array("x".utf8),
            Array("Holder pid=1 uid=0 count=1 since=2026-11-25T15:00:00Z\nInjected".utf8),
        ]

        @Test("names with \\n, \\r or ESC are refused (EINVAL) and never reach the log, status or holders; a name with spaces shows once per line")
        func noInjection() throws {
            try Self.withGroupRecorder { recorder in
                let binary = MountEnvironment.binary
                let member = try Self.member()
                // The name with spaces, doubled spaces, a leading and a
                // trailing space: exactly as written everywhere.
                let spaced = " My  Burner 2.0 "
                let agent = try recorder.workspace.agent(user: member)
                let handle = try agent.hold(recorder.path("acquire"), spaced)

                for payload in Self.injections {
                    for file in ["acquire", "acquire_force", "release"] {
                        #expect(try writeOnce(recorder.path(file), payload, user: member).stdout == "EINVAL\n",
                                "\(file) \(payload)")
                        #expect(try writeOnce(recorder.path(file), payload).stdout == "EINVAL\n", "\(file) \(payload) as root")
                    }
                    #expect(try agent.write(handle, payload) == .failed("EINVAL"), "\(payload)")
                }
                // A refusal that names the holder puts the name in the log.
                #expect(try writeOnce(recorder.path("acquire"), "Other") == "EBUSY")
                try expectHeld(recorder, by: spaced, count: 1)

                let holders = try recorder.cat("holders")
                let text = try run([binary, "status", recorder.mountPoint]).check().stdout
                let json = try run([binary, "status", recorder.mountPoint, "--json"]).check().stdout
                _ = poll(within: .seconds(2)) { recorder.daemon.log.contains("held by") }
                let log = recorder.daemon.log
                for (what, output) in [("holders", holders), ("status", text), ("status --json", json), ("log", log)] {
                    #expect(!output.contains("Injected"), "\(what): \(output)")
                    let bytes = Array(output.utf8)
                    #expect(!bytes.contains(0x1b) && !bytes.contains(0x0d) && !bytes.contains(0x07), "\(what): \(output.debugDescription)")
                }
                HostileInputTests.expectCleanLog(recorder.daemon)

                // The name appears exactly once on each line that shows it.
                func occurrences(_ line: Substring) -> Int { line.ranges(of: spaced).count }
                let holderLines = holders.split(separator: "\n")
                #expect(holderLines.count == 1 && holderLines.allSatisfy { occurrences($0) == 1 && $0.hasPrefix(spaced) }, "\(holders)")
                let textLines = text.split(separator: "\n")
                #expect(textLines.count == 3, "\(text)")
                #expect(textLines.dropFirst().allSatisfy { occurrences($0) == 1 }, "status: \(text.debugDescription)")
                #expect(textLines.last?.hasPrefix("  holder \(spaced) pid=\(agent.pid) uid=65534 count=1 since=") == true, "\(text)")
                let logLines = log.split(separator: "\n").filter { $0.contains(spaced) }
                #expect(!logLines.isEmpty && logLines.allSatisfy { occurrences($0) == 1 }, "log: \(log)")

                // JSON: one line; the owner and the holder's name are the name.
                #expect(json.split(separator: "\n").count == 1 && json.hasSuffix("}\n"), "\(json)")
                let object = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
                let recorders = try #require(object["recorders"] as? [[String: Any]])
                #expect(recorders.first?["owner"] as? String == spaced, "\(json)")
                let holderObjects = recorders.first?["holders"] as? [[String: Any]] ?? []
                #expect(holderObjects.count == 1 && holderObjects.first?["name"] as? String == spaced,
                        "the holder's name in JSON differs from the name: \(json)")
                #expect(holderObjects.first?["uid"] as? Int == 65534 && holderObjects.first?["pid"] as? Int == Int(agent.pid), "\(json)")

                #expect(try agent.close(handle) == .ok(0))
                try expectFree(recorder)
            }
        }

        // MARK: Exhaustion

        /// The hostile process, as uid 65534 of the node's group. It raises
        /// its descriptor limit, opens sr0's acquire until refused, tries the
        /// other control files that take handles, writes one name through
        /// one handle until refused, tries to nest once more through that
        /// handle and through another, tries the other recorder, then prints
        /// READY and waits to be killed. Arguments: sr0, sr1.
        static let hostile = pythonScript("hostile_user")

        /// Another user working on its own recorder, lock, read, unlock, in
        /// a loop until `stop` exists. Prints "CYCLE N" every 20 cycles as it
        /// goes, then "CYCLES N" and one line per failure. Arguments: the recorder directory, the name, the stop file.
        static let worker = pythonScript("other_user_worker")

        @Test("one uid cannot exhaust the daemon: EMFILE past 1024 handles, ENOLCK past 65,536 locks; other users work on; all free after it exits")
        func exhaustion() throws {
            try withWorkspace { workspace in
                let devices = try (0..<4).map { _ in try workspace.loopDevice() }
                for device in devices { try Self.expectNodeMode(device) }
                let mountPoint = try workspace.directory("mnt")
                let daemon = try workspace.startDaemon(mountPoint: mountPoint, MountedRecorder.arguments + ["--allow-other"]
                    + devices.enumerated().flatMap { ["--device", "sr\($0.offset)=\($0.element)"] })
                let recorders = devices.enumerated().map { index, device in
                    MountedRecorder(workspace: workspace, mountPoint: mountPoint, device: device, daemon: daemon, name: "sr\(index)")
                }
                // sr0 and sr1 are the hostile uid's; root works on sr2 and
                // another uid of the group on sr3, all along.
                let (sr0, sr1, sr2, sr3) = (recorders[0], recorders[1], recorders[2], recorders[3])
                let nobody = try Self.member()
                let other = try Self.member(Self.otherUID)

                let stop = "\(workspace.path)/stop"
                let workers = [
                    try Child(["/usr/bin/python3", "-c", Self.worker, sr2.directory, "Root", stop],
                              stdout: "\(workspace.path)/worker-root.out", stderr: "\(workspace.path)/worker-root.err"),
                    try Child(other + ["/usr/bin/python3", "-c", Self.worker, sr3.directory, "Other", stop],
                              stdout: "\(workspace.path)/worker-other.out", stderr: "\(workspace.path)/worker-other.err"),
                ]
                defer {
                    Glibc.close(creat(stop, 0o644))
                    for worker in workers where worker.wait(within: .seconds(10)) == nil { worker.end() }
                }
                func progress(_ worker: Child) -> Int {
                    worker.output.split(separator: "\n").last { $0.hasPrefix("CYCLE ") }.flatMap { Int($0.dropFirst(6)) } ?? 0
                }

                for round in 1...2 {
                    let hostile = try Child(["prlimit", "--nofile=4096:4096"] + nobody
                                            + ["/usr/bin/python3", "-c", Self.hostile, sr0.directory, sr1.directory],
                                            stdout: "\(workspace.path)/hostile\(round).out", stderr: "\(workspace.path)/hostile\(round).err")
                    defer { hostile.end() }
                    let ready = poll(within: .seconds(60)) { hostile.output.contains("READY\n") || !hostile.isRunning }
                    let report = hostile.output
                    #expect(ready && hostile.isRunning, "round \(round): \(report) \(hostile.errors)")
                    #expect(report == """
                        OPENED 1024 EMFILE
                        OPEN \(sr0.path("acquire_force")) EMFILE
                        OPEN \(sr1.path("acquire")) EMFILE
                        OPEN \(sr1.path("acquire_force")) EMFILE
                        WROTE 65536 ENOLCK
                        LOCKCOUNT EMFILE
                        LOCKCOUNT 65536
                        NESTED ENOLCK
                        OTHER EBUSY
                        SR1 ENOLCK
                        READY

                        """, "round \(round): \(hostile.errors)")
                    try expectHeld(sr0, by: "Hostile", count: 65536)
                    let holders = try sr0.cat("holders")
                    #expect(holders.hasPrefix("Hostile pid=\(hostile.pid) uid=65534 count=65536 since=")
                            && holders.split(separator: "\n").count == 1, "\(holders)")
                    try expectFree(sr1)
                    // Only the locks taken below count (two per round).
                    #expect(try sr1.generation() == UInt64(2 * (round - 1)), "the refused lock counted as a generation of sr1")

                    // While it holds everything it may, the others work on:
                    // the workers go on cycling...
                    let before = workers.map(progress)
                    let cycling = poll(within: .seconds(20)) { zip(workers, before).allSatisfy { progress($0) >= $1 + 20 } }
                    #expect(cycling, "round \(round): the workers stalled at \(workers.map(progress)) (from \(before))")
                    // ...root locks, reads and unlocks the hostile uid's other
                    // recorder, and another uid of the group does the same.
                    let rootAgent = try workspace.agent()
                    let rootHandle = try rootAgent.hold(sr1.path("acquire"), "RootNow")
                    try expectHeld(sr1, by: "RootNow", count: 1)
                    #expect(try rootAgent.close(rootHandle) == .ok(0))
                    try expectFree(sr1)
                    let otherAgent = try workspace.agent(user: other)
                    let otherHandle = try otherAgent.hold(sr1.path("acquire"), "OtherNow")
                    #expect(try otherAgent.write(otherHandle, "OtherNow") == .ok(8))
                    try expectHeld(sr1, by: "OtherNow", count: 2)
                    #expect(try otherAgent.close(otherHandle) == .ok(0))
                    try expectFree(sr1)
                    // Root is not limited, even on the hostile uid's recorder.
                    #expect(try writeOnce(sr0.path("release"), "Hostile") == "OK 7")
                    try expectHeld(sr0, by: "Hostile", count: 65535)

                    // The hostile process dies: everything it had is free at once.
                    hostile.signal(SIGKILL)
                    #expect(hostile.wait(within: .seconds(10)) == 128 + SIGKILL)
                    try expectFree(sr0)
                    #expect(try sr0.cat("holders") == "")
                    // Each round takes sr0 twice: the hostile lock, and the check below.
                    #expect(try sr0.generation() == UInt64(2 * round - 1))
                    #expect(try writeOnce(sr0.path("acquire"), "After", user: nobody) == "OK 5")
                    try expectFree(sr0)
                    // The second round gets exactly the same limits: nothing leaked.
                }

                Glibc.close(creat(stop, 0o644))
                for (worker, who) in zip(workers, ["root", "uid \(Self.otherUID)"]) {
                    #expect(worker.wait(within: .seconds(20)) == 0, "\(who): \(worker.output) \(worker.errors)")
                    let lines = worker.output.split(separator: "\n")
                    let cycles = lines.first { $0.hasPrefix("CYCLES ") }.flatMap { Int($0.dropFirst(7)) } ?? 0
                    #expect(cycles >= 10, "\(who) made no progress: \(worker.output)")
                    #expect(!lines.contains { $0.hasPrefix("FAILURE ") }, "\(who): \(worker.output)")
                }
                #expect(daemon.child.isRunning)
            }
        }

        @Test("a uid at its handle limit that closes a handle can open another at once")
        func closedHandleFreesItsSlot() throws {
            try Self.withGroupRecorder { recorder in
                // After close(2) returns, the next request sees the handle gone,
                // as it sees the handle's locks gone (docs/design.md §3).
                let statement = pythonScript("handle_slot_reuse")
                let finished = try run(["prlimit", "--nofile=4096:4096"] + (try Self.member())
                                       + ["/usr/bin/python3", "-c", "import errno, os, sys\na = sys.argv[1:]\n" + statement,
                                          recorder.path("acquire")], within: .seconds(60))
                #expect(finished.status == 0, "\(finished)")
                try expectFree(recorder)
            }
        }
    }
}
