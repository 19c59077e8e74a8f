#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing

extension Mounted {
    /// Issue F, part 3: whatever a client writes, and however it writes it,
    /// a malformed name is refused with EINVAL, nothing changes, and the
    /// daemon keeps serving. Every write comes from a separate python3
    /// process, through the kernel.
    @Suite("Hostile input")
    struct HostileInputTests {
        /// The fuzzer. Arguments: the recorder directory, the seed, how many
        /// random payloads per target, the holder's name ("" when free) and
        /// uid, and whether to write every byte value alone and inside a name.
        ///
        /// For each of acquire, acquire_force and release it keeps a plain
        /// and an O_APPEND descriptor open and writes payloads through them
        /// with write(2), pwrite(2) at a random offset, or the O_APPEND one;
        /// some payloads are a valid name cut into pieces, one write each.
        /// Between writes it tries ftruncate (0: accepted; other sizes:
        /// EPERM) and mmap (EACCES: the files are write-only). The expected
        /// answer of every write comes from a reference of docs/design.md §2-3
        /// written here; a write whose expected outcome is a lock is not
        /// made. owner, lockcount, holders and generation are read before
        /// and after every operation and must not change.
        ///
        /// Prints "MISMATCH ..." / "CHANGED ..." lines (at most 50) and one
        /// "SUMMARY target=T writes=N EINVAL=N ..." line per target.
        static let fuzzer = pythonScript("fuzzer")

        /// The seed of this run: RECORDERFS_FUZZ_SEED if set (to replay a
        /// failure), else a fresh one. Printed, and in every message.
        static func seed() -> UInt32 {
            if let text = ProcessInfo.processInfo.environment["RECORDERFS_FUZZ_SEED"], let seed = UInt32(text) { return seed }
            return UInt32.random(in: 1...UInt32.max)
        }

        /// Runs the fuzzer; returns its SUMMARY fields per target, after
        /// expecting that it found no problem.
        static func fuzz(_ recorder: MountedRecorder, seed: UInt32, count: Int, holder: String, holderUID: Int,
                         singles: Bool, user: [String] = [], sourceLocation: SourceLocation = #_sourceLocation) throws -> [String: [String: Int]] {
            let finished = try run(user + ["/usr/bin/python3", "-c", fuzzer, recorder.directory, "\(seed)", "\(count)",
                                           holder, "\(holderUID)", singles ? "1" : "0"], within: .seconds(90))
            let context = "seed \(seed) (replay with RECORDERFS_FUZZ_SEED=\(seed))"
            #expect(finished.status == 0, "\(context): \(finished)", sourceLocation: sourceLocation)
            let lines = finished.stdout.split(separator: "\n")
            let problems = lines.filter { !$0.hasPrefix("SUMMARY ") }
            #expect(problems.isEmpty, "\(context): \(problems.count) problems:\n\(problems.joined(separator: "\n"))",
                    sourceLocation: sourceLocation)
            var summaries: [String: [String: Int]] = [:]
            for line in lines where line.hasPrefix("SUMMARY ") {
                var fields: [String: Int] = [:]
                var target = ""
                for field in line.split(separator: " ").dropFirst() {
                    let pair = field.split(separator: "=", maxSplits: 1)
                    guard pair.count == 2 else { continue }
                    if pair[0] == "target" { target = String(pair[1]) } else { fields[String(pair[0])] = Int(pair[1]) }
                }
                summaries[target] = fields
            }
            #expect(summaries.keys.sorted() == ["acquire", "acquire_force", "release"], "\(context): \(finished)",
                    sourceLocation: sourceLocation)
            return summaries
        }

        /// Every line of the daemon's log is one of its own: it starts with a
        /// timestamp and holds only printable ASCII.
        static func expectCleanLog(_ daemon: RecorderDaemon, sourceLocation: SourceLocation = #_sourceLocation) {
            let bytes = fileBytes(daemon.logPath) ?? []
            let raw = bytes.filter { ($0 < 0x20 && $0 != 0x0A) || $0 >= 0x7F }
            #expect(raw.isEmpty, "bytes \(Set(raw).sorted()) reached the log", sourceLocation: sourceLocation)
            let foreign = daemon.log.split(separator: "\n").filter { $0.firstMatch(of: /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d/) == nil }
            #expect(foreign.isEmpty, "log lines that are not the daemon's: \(foreign.prefix(5))", sourceLocation: sourceLocation)
        }

        // MARK: Fuzzing

        @Test("fuzzed writes to acquire, acquire_force and release: EINVAL for every malformed name, no change, the daemon serves on")
        func fuzzWrites() throws {
            let seed = Self.seed()
            print("HostileInputTests.fuzzWrites: seed \(seed) (replay with RECORDERFS_FUZZ_SEED=\(seed))")
            try withRecorder(["--allow-other"]) { recorder in
                // Free, as root: every byte value alone and inside a name,
                // then random payloads. Valid names would lock: not written
                // to acquire; ENOLCK from release.
                let free = try Self.fuzz(recorder, seed: seed, count: 150, holder: "", holderUID: 0, singles: true)
                // 187 of the 256 byte values are not allowed: each alone and
                // inside a name is EINVAL.
                for (target, tally) in free {
                    #expect((tally["writes"] ?? 0) + (tally["skipped"] ?? 0) >= 512 + 100, "\(target): \(tally), seed \(seed)")
                    #expect((tally["EINVAL"] ?? 0) >= 2 * 187, "\(target): \(tally), seed \(seed)")
                }
                #expect((free["release"]?["ENOLCK"] ?? 0) >= 2 * 69, "every allowed byte alone is a name: \(free), seed \(seed)")
                try expectFree(recorder)
                #expect(try recorder.generation() == 0, "a refused write took the drive; seed \(seed)")

                // Held by root (two locks), fuzzed by another uid of the
                // node's group: EINVAL, EBUSY, ENOLCK or EPERM, never a change.
                let holder = try recorder.workspace.agent()
                let handle = try holder.hold(recorder.path("acquire"), "Holder")
                #expect(try holder.write(handle, "Holder\n") == .ok(7))
                let before = try recorder.cat("holders")
                let held = try Self.fuzz(recorder, seed: seed &+ 1, count: 150, holder: "Holder", holderUID: 0, singles: true,
                                         user: asNobody(group: try diskGroup()))
                for (target, tally) in held {
                    #expect((tally["writes"] ?? 0) >= 512 + 100, "\(target): \(tally), seed \(seed)")
                    #expect((tally["skipped"] ?? 0) == 0, "\(target): \(tally), seed \(seed)")
                    #expect((tally["pieces"] ?? 0) > 0 && (tally["truncates"] ?? 0) > 0, "\(target): \(tally), seed \(seed)")
                }
                #expect((held["acquire"]?["EBUSY"] ?? 0) >= 2 * 69, "\(held), seed \(seed)")
                #expect((held["acquire_force"]?["EBUSY"] ?? 0) >= 2 * 69, "\(held), seed \(seed)")
                #expect((held["release"]?["ENOLCK"] ?? 0) >= 2 * 69, "\(held), seed \(seed)")
                try expectHeld(recorder, by: "Holder", count: 2)
                #expect(try recorder.generation() == 1)
                #expect(try recorder.cat("holders") == before)

                // The daemon is alive, and a normal lock still works.
                #expect(recorder.daemon.child.isRunning, "the daemon died; seed \(seed); log: \(recorder.daemon.log.suffix(2000))")
                #expect(try holder.close(handle) == .ok(0))
                try expectFree(recorder)
                let after = try recorder.workspace.agent()
                _ = try after.hold(recorder.path("acquire"), "AfterFuzz")
                try expectHeld(recorder, by: "AfterFuzz", count: 1)
                #expect(try writeOnce(recorder.path("release"), "AfterFuzz") == "OK 9")
                try expectFree(recorder)
                Self.expectCleanLog(recorder.daemon)
            }
        }

        // MARK: One way at a time

        @Test("a name written in pieces: each write is judged alone")
        func namesInPieces() throws {
            try withRecorder { recorder in
                let agent = try recorder.workspace.agent()
                let handle = try agent.openDescriptor(recorder.path("acquire"))
                // "Rec" is a name of its own: it locks; "order\n" is another name.
                #expect(try agent.write(handle, "Rec") == .ok(3))
                #expect(try agent.write(handle, "order\n") == .failed("EBUSY"))
                try expectHeld(recorder, by: "Rec", count: 1)
                // The newline alone is an empty name.
                #expect(try agent.write(handle, "\n") == .failed("EINVAL"))
                // Pieces of a name with a forbidden byte: the bad piece alone fails.
                #expect(try agent.write(handle, [0x52, 0x65]) == .failed("EBUSY"))
                #expect(try agent.write(handle, [0x1b, 0x63]) == .failed("EINVAL"))
                // The holder's name in two writes: each piece is another name.
                #expect(try agent.write(handle, "Re") == .failed("EBUSY"))
                #expect(try agent.write(handle, "c") == .failed("EBUSY"))
                try expectHeld(recorder, by: "Rec", count: 1)

                // release in pieces: "Re" and "c\n" name nobody; "Rec\n" does.
                let release = try agent.openDescriptor(recorder.path("release"))
                #expect(try agent.write(release, "Re") == .failed("ENOLCK"))
                #expect(try agent.write(release, "c\n") == .failed("ENOLCK"))
                try expectHeld(recorder, by: "Rec", count: 1)
                #expect(try agent.write(release, "Rec\n") == .ok(4))
                try expectFree(recorder)
                // A long name cut at 63 bytes: the first piece is a valid name.
                let long = String(repeating: "L", count: 63)
                #expect(try agent.write(handle, long) == .ok(63))
                #expect(try agent.write(handle, "L\n") == .failed("EBUSY"))
                try expectHeld(recorder, by: long, count: 1)
                #expect(try agent.close(handle) == .ok(0))
                try expectFree(recorder)
            }
        }

        @Test("pwrite at any offset and O_APPEND: the offset is ignored, the name is taken")
        func offsetsIgnored() throws {
            try withRecorder { recorder in
                // One handle, one holder: the O_APPEND handle is refused while
                // the first holds, and takes the lock once it is closed.
                let statement = pythonScript("offsets_ignored")
                #expect(try probe(statement, recorder.path("acquire"), recorder.path("lockcount"), recorder.path("owner")) == "OK")
                try expectFree(recorder)
                // A malformed name at an offset is still malformed.
                #expect(try probe("os.pwrite(os.open(a[0], os.O_WRONLY), b'Bad\\x00', 1 << 20)", recorder.path("acquire")) == "EINVAL")
                try expectFree(recorder)
            }
        }

        @Test("ftruncate of a control file to 0 is accepted and does nothing; to any other size EPERM")
        func truncation() throws {
            try withRecorder { recorder in
                let agent = try recorder.workspace.agent()
                _ = try agent.hold(recorder.path("acquire"), "Holder")
                for file in TreeTests.controlFiles {
                    let path = recorder.path(file)
                    #expect(try probe("os.ftruncate(os.open(a[0], os.O_WRONLY), 0)", path) == "OK", "\(file)")
                    #expect(try probe("os.close(os.open(a[0], os.O_WRONLY | os.O_TRUNC))", path) == "OK", "\(file)")
                    #expect(try probe("os.truncate(a[0], 0)", path) == "OK", "\(file)")
                    for size in [1, 7, 4095, 4096, 4097, 1 << 40] {
                        #expect(try probe("os.ftruncate(os.open(a[0], os.O_WRONLY), int(a[1]))", path, "\(size)") == "EPERM", "\(file) \(size)")
                        #expect(try probe("os.truncate(a[0], int(a[1]))", path, "\(size)") == "EPERM", "\(file) \(size)")
                    }
                }
                // Truncating the holder's own handle does not drop its lock.
                #expect(try probe("os.ftruncate(os.open(a[0], os.O_WRONLY), 0)", recorder.path("acquire")) == "OK")
                try expectHeld(recorder, by: "Holder", count: 1)
                #expect(try recorder.generation() == 1)
            }
        }

        @Test("mmap of a control file fails with EACCES, MAP_SHARED of a value file with ENODEV; the daemon serves on")
        func mmapRefused() throws {
            try withRecorder { recorder in
                let agent = try recorder.workspace.agent()
                _ = try agent.hold(recorder.path("acquire"), "Holder")
                let attempts = [
                    ("MAP_SHARED", "PROT_WRITE"), ("MAP_SHARED", "PROT_READ"), ("MAP_SHARED", "PROT_READ | mmap.PROT_WRITE"),
                    ("MAP_PRIVATE", "PROT_READ"), ("MAP_PRIVATE", "PROT_READ | mmap.PROT_WRITE"),
                ]
                for file in TreeTests.controlFiles {
                    for (flags, protection) in attempts {
                        let statement = "import mmap; mmap.mmap(os.open(a[0], os.O_WRONLY), 4096, mmap.\(flags), mmap.\(protection))"
                        #expect(try probe(statement, recorder.path(file)) == "EACCES", "\(file) \(flags) \(protection)")
                    }
                }
                // A value file is read-only: a shared mapping is refused by
                // the kernel for a direct-I/O file.
                for file in ["owner", "lockcount", "holders", "generation"] {
                    let statement = "import mmap; mmap.mmap(os.open(a[0], os.O_RDONLY), 4096, mmap.MAP_SHARED, mmap.PROT_READ)"
                    #expect(try probe(statement, recorder.path(file)) == "ENODEV", "\(file)")
                }
                #expect(recorder.daemon.child.isRunning)
                try expectHeld(recorder, by: "Holder", count: 1)
                #expect(try writeOnce(recorder.path("acquire"), "Other") == "EBUSY")
                #expect(try writeOnce(recorder.path("release"), "Holder") == "OK 6")
                try expectFree(recorder)
                #expect(try writeOnce(recorder.path("acquire"), "Normal") == "OK 6")
            }
        }

        // MARK: Hostile command lines

        /// A `mount` command line that must be refused before anything is
        /// mounted. `arguments` is built from the workspace and a real loop
        /// device, so that only the one thing named is wrong.
        struct BadCommandLine: Sendable, CustomTestStringConvertible {
            var testDescription: String
            var arguments: @Sendable (_ workspace: String, _ device: String) -> [String]

            init(_ description: String, _ arguments: @escaping @Sendable (_ workspace: String, _ device: String) -> [String]) {
                testDescription = description
                self.arguments = arguments
            }
        }

        /// The one line is plain text: no control byte but its newline
        /// (a terminal must not be driven by an echoed argument).
        static func expectNoControlBytes(_ finished: Finished, sourceLocation: SourceLocation = #_sourceLocation) {
            let bytes = Array(finished.stderr.utf8.dropLast())
            #expect(!bytes.contains { $0 < 0x20 || $0 == 0x7F }, "\(finished)", sourceLocation: sourceLocation)
        }

        static let badDevices: [BadCommandLine] = [
            BadCommandLine("--device without '='") { _, _ in ["--device", "bad"] },
            BadCommandLine("--device with an empty name") { _, device in ["--device", "=\(device)"] },
            BadCommandLine("--device with an empty path") { _, _ in ["--device", "sr0="] },
            BadCommandLine("--device on a directory") { workspace, _ in ["--device", "sr0=\(workspace)"] },
            BadCommandLine("--device on a char device (/dev/null)") { _, _ in ["--device", "sr0=/dev/null"] },
            BadCommandLine("--device on a missing path") { workspace, _ in ["--device", "sr0=\(workspace)/missing"] },
            BadCommandLine("--device on a regular file") { workspace, _ in ["--device", "sr0=\(workspace)/disc0.img"] },
            BadCommandLine("--device with a name holding '/'") { _, device in ["--device", "a/b=\(device)"] },
            BadCommandLine("--device named by-id") { _, device in ["--device", "by-id=\(device)"] },
            BadCommandLine("--device named events") { _, device in ["--device", "events=\(device)"] },
            BadCommandLine("--device named '..'") { _, device in ["--device", "..=\(device)"] },
            BadCommandLine("--device with a name of 65 bytes") { _, device in ["--device", String(repeating: "n", count: 65) + "=\(device)"] },
            BadCommandLine("--device with a name holding a newline") { _, device in ["--device", "sr0\nfake=\(device)"] },
            BadCommandLine("--device with a name holding ESC") { _, device in ["--device", "sr0\u{1b}[31m=\(device)"] },
            BadCommandLine("--device on a missing path holding a newline") { workspace, _ in ["--device", "sr0=\(workspace)/no\nsuch"] },
            BadCommandLine("the same --device name twice") { _, device in ["--device", "sr0=\(device)", "--device", "sr0=\(device)"] },
            BadCommandLine("a --virtual name that a --device has") { _, device in ["--device", "sr0=\(device)", "--virtual", "sr0"] },
            BadCommandLine("--virtual named by-id") { _, _ in ["--virtual", "by-id"] },
            BadCommandLine("--timeout 0") { _, device in ["--device", "sr0=\(device)", "--timeout", "0"] },
            BadCommandLine("--timeout 3601") { _, device in ["--device", "sr0=\(device)", "--timeout", "3601"] },
            BadCommandLine("--timeout that is not a number") { _, device in ["--device", "sr0=\(device)", "--timeout", "soon"] },
            BadCommandLine("an empty --match") { _, device in ["--device", "sr0=\(device)", "--match", ""] },
            BadCommandLine("an unknown option") { _, device in ["--device", "sr0=\(device)", "--frobnicate"] },
        ]

        @Test("a bad --device (or other option) is refused before mounting, with exactly one line on stderr", arguments: badDevices)
        func badDevice(_ commandLine: BadCommandLine) throws {
            try withWorkspace { workspace in
                let device = try workspace.loopDevice()
                let mountPoint = try workspace.directory("mnt")
                let refused = try run([MountEnvironment.binary, "mount", mountPoint, "--no-discover"]
                                      + commandLine.arguments(workspace.path, device), within: .seconds(10))
                expectOneSentence(refused)
                Self.expectNoControlBytes(refused)
                #expect(refused.stdout == "", "\(refused)")
                #expect(mounts(at: mountPoint).isEmpty, "something was mounted: \(refused)")
            }
        }

        static let badMountPoints: [BadCommandLine] = [
            BadCommandLine("a mountpoint under a missing directory") { workspace, _ in ["\(workspace)/missing/mnt"] },
            BadCommandLine("a char device as mountpoint") { _, _ in ["/dev/null"] },
            BadCommandLine("a path through a file") { workspace, _ in ["\(workspace)/disc0.img/mnt"] },
            BadCommandLine("a symlink to a file as mountpoint") { workspace, _ in ["\(workspace)/link-to-image"] },
            BadCommandLine("two mountpoints") { workspace, _ in ["\(workspace)/mnt", "\(workspace)/mnt"] },
            BadCommandLine("a missing mountpoint holding a newline") { workspace, _ in ["\(workspace)/new\nline"] },
            BadCommandLine("a missing mountpoint holding ESC") { workspace, _ in ["\(workspace)/\u{1b}[2Jmnt"] },
        ]

        @Test("a bad mountpoint is refused with exactly one line on stderr", arguments: badMountPoints)
        func badMountPoint(_ commandLine: BadCommandLine) throws {
            try withWorkspace { workspace in
                let device = try workspace.loopDevice()
                _ = try workspace.directory("mnt")
                try run(["ln", "-s", "\(workspace.path)/disc0.img", "\(workspace.path)/link-to-image"]).check()
                let refused = try run([MountEnvironment.binary, "mount"] + commandLine.arguments(workspace.path, device)
                                      + ["--no-discover", "--device", "sr0=\(device)"], within: .seconds(10))
                expectOneSentence(refused)
                Self.expectNoControlBytes(refused)
                #expect(!mountEntries().contains { $0.type == "fuse.recorderfs" && $0.mountPoint.hasPrefix(workspace.path) },
                        "something was mounted: \(refused)")
            }
        }

        @Test("a mountpoint in use by a live recorderfs (given by a relative path, or through a symlink) is refused with one line")
        func mountPointInUse() throws {
            try withRecorder { recorder in
                let link = "\(recorder.workspace.path)/link-to-mnt"
                try run(["ln", "-s", recorder.mountPoint, link]).check()
                for mountPoint in [link, recorder.mountPoint + "/", recorder.mountPoint + "/."] {
                    let second = try run([MountEnvironment.binary, "mount", mountPoint, "--no-discover",
                                          "--device", "sr1=\(recorder.device)"], within: .seconds(10))
                    expectOneSentence(second)
                }
                let relative = try run(["/bin/sh", "-c", "cd \(recorder.workspace.path) && exec \(MountEnvironment.binary) mount mnt --no-discover --device sr1=\(recorder.device)"],
                                       within: .seconds(10))
                expectOneSentence(relative)
                #expect(recorder.daemon.child.isRunning)
                #expect(mounts(at: recorder.mountPoint).count == 1)
                #expect(try run(["ls", recorder.mountPoint]).check().stdout == rootListing("sr0"))
                try expectFree(recorder)
            }
        }
    }
}
