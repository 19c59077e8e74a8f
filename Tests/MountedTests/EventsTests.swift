#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing

extension Mounted {
    /// Issue I: waiting and events — `acquire_wait`, poll(2) of the values,
    /// and `MOUNT/events`.
    @Suite("Waiting, poll and events")
    struct EventsTests {
        /// Whether process `pid` is blocked in a read(2) (x86_64: syscall 0)
        /// or a write(2) (1).
        static func inSyscall(_ pid: pid_t, _ number: Int) -> Bool {
            fileText("/proc/\(pid)/syscall").hasPrefix("\(number) ")
        }

        /// Reads MOUNT/events and prints each line as it comes, without its
        /// timestamp, until killed. With "slow" as second argument it opens
        /// the file and never reads.
        static let eventReader = pythonScript("event_reader")

        /// The lines an event reader printed so far.
        static func lines(_ reader: Child) -> [Substring] {
            reader.output.split(separator: "\n").filter { $0 != "open" }
        }

        @Test("events: a scripted sequence gives exactly the lines it implies, to every reader from its open on")
        func eventSequence() throws {
            try withWorkspace { workspace in
                let device = try workspace.loopDevice()
                let mountPoint = try workspace.directory("mnt")
                let daemon = try workspace.startDaemon(mountPoint: mountPoint, ["--no-discover", "--device", "sr0=\(device)"])
                let recorder = MountedRecorder(workspace: workspace, mountPoint: mountPoint, device: device, daemon: daemon)
                let reader = try Child(["/usr/bin/python3", "-c", Self.eventReader, "\(mountPoint)/events"],
                                       stdout: "\(workspace.path)/events.out", stderr: "\(workspace.path)/events.err")
                defer { reader.end() }
                #expect(poll { reader.output.hasPrefix("open\n") })
                let base = try recorder.generationBase()
                let holder = try workspace.agent()
                let other = try workspace.agent()

                let handle = try holder.hold(recorder.path("acquire"), "Burner")
                #expect(try holder.write(handle, "Burner") == .ok(6))
                #expect(try writeOnce(recorder.path("release"), "Burner") == "OK 6")
                let refused = try other.openDescriptor(recorder.path("acquire"))
                #expect(try other.write(refused, "Ripper") == .failed("EBUSY"))
                #expect(try holder.close(handle) == .ok(0))
                // RELEASE is asynchronous; a read of the tree orders after it
                // (docs/request-loop.md), so the free comes before the removal.
                #expect(try recorder.cat("owner") == "")
                // A hotplug removal and addition: the loop device's uevents.
                let uevent = "/sys/block/\((device as NSString).lastPathComponent)/uevent"
                try run(["sh", "-c", "echo remove > \(uevent)"]).check()
                #expect(poll { reader.output.contains(" removed ") }, "\(reader.output)")
                try run(["sh", "-c", "echo add > \(uevent)"]).check()

                let expected = [
                    "sr0 lock Burner pid=\(holder.pid) uid=0 gen=\(base + 1)",
                    "sr0 nest Burner pid=\(holder.pid) uid=0 gen=\(base + 1)",
                    "sr0 unlock Burner pid=@ uid=0 gen=\(base + 1)",
                    "sr0 refused Ripper pid=\(other.pid) uid=0 gen=\(base + 1) holder=Burner",
                    "sr0 free Burner pid=\(holder.pid) uid=0 gen=\(base + 1)",
                    "sr0 removed - pid=0 uid=0 gen=\(base + 1)",
                ]
                let seen = poll { Self.lines(reader).count >= expected.count + 1 }
                let lines = Self.lines(reader)
                #expect(seen, "events: \(lines)")
                // The releaser's pid is that of its own process (writeOnce's).
                let normalised = lines.map { line -> String in
                    line.hasPrefix("sr0 unlock ") ? String(line.replacing(/pid=\d+/, with: "pid=@")) : String(line)
                }
                #expect(Array(normalised.prefix(expected.count)) == expected, "events: \(lines)")
                #expect(normalised.count == expected.count + 1 && normalised.last?.hasPrefix("sr0 added - pid=0 uid=0 gen=") == true,
                        "events: \(lines)")
                if let added = normalised.last, let gen = UInt64(added.split(separator: "=").last ?? "") {
                    #expect(gen > base + 1, "a recorder that comes back starts above every earlier generation")
                }

                // A reader opened now sees only what comes next.
                let late = try Child(["/usr/bin/python3", "-c", Self.eventReader, "\(mountPoint)/events"],
                                     stdout: "\(workspace.path)/late.out", stderr: "\(workspace.path)/late.err")
                defer { late.end() }
                #expect(poll { late.output.hasPrefix("open\n") })
                #expect(poll { (try? recorder.cat("owner")) != nil })
                #expect(try writeOnce(recorder.path("acquire"), "Late") == "OK 4")
                #expect(poll { Self.lines(late).count >= 2 }, "late reader: \(late.output)")
                #expect(Self.lines(late).map { $0.split(separator: " ").prefix(3).joined(separator: " ") } == ["sr0 lock Late", "sr0 free Late"],
                        "late reader: \(late.output)")
            }
        }

        @Test("events: a reader that never reads gets one lost N line; a blocked read ends with EINTR on a signal")
        func lostAndInterrupted() throws {
            try withRecorder { recorder in
                let events = "\(recorder.mountPoint)/events"
                let script = pythonScript("events_lost_and_interrupted")
                var ends: [Int32] = [0, 0]
                #expect(pipe(&ends) == 0)
                _ = fcntl(ends[1], F_SETFD, FD_CLOEXEC)
                let reader = try Child(["/usr/bin/python3", "-c", script, events], input: ends[0],
                                       stdout: "\(recorder.workspace.path)/lost.out", stderr: "\(recorder.workspace.path)/lost.err")
                close(ends[0])
                defer {
                    close(ends[1])
                    reader.end()
                }
                #expect(poll { reader.output.hasPrefix("open\n") })
                // 1000 lock cycles: 2000 events, far more than a reader's buffer.
                let cycles = try run(["/usr/bin/python3", "-c", pythonScript("lock_cycles"), recorder.path("acquire")], within: .seconds(60))
                #expect(cycles.status == 0, "\(cycles)")
                _ = write(ends[1], "go\n", 3)
                #expect(poll { reader.output.contains("reading\n") || !reader.isRunning }, "\(reader.output) \(reader.errors)")
                let summary = reader.output.split(separator: "\n").first { $0.hasPrefix("lines ") } ?? ""
                let words = summary.split(separator: " ")
                // lines N lost lost K last EVENT: what fitted, then one lost line.
                #expect(words.count == 7 && words[2] == "lost" && words[3] == "lost" && words[5] == "last" && words[6] == "lost",
                        "\(summary)")
                if words.count == 7, let total = Int(words[1]), let lost = Int(words[4]) {
                    #expect(total - 1 + lost == 2000, "\(summary): every event is either shown or counted")
                    #expect(lost > 0 && total > 100, "\(summary)")
                }
                // The daemon is not slowed, and the recorder is right.
                try expectFree(recorder)

                // A blocked read, interrupted.
                #expect(poll { Self.inSyscall(reader.pid, 0) }, "the reader is not blocked in read")
                reader.signal(SIGUSR1)
                #expect(poll(within: .seconds(2)) { reader.output.hasSuffix("EINTR\n") }, "\(reader.output)")
            }
        }

        @Test("poll(2) on owner, lockcount, generation and holders wakes within 100 ms of a change, with POLLPRI|POLLERR")
        func pollWakes() throws {
            try withRecorder { recorder in
                let script = pythonScript("poll_wakes")
                var ends: [Int32] = [0, 0]
                #expect(pipe(&ends) == 0)
                _ = fcntl(ends[1], F_SETFD, FD_CLOEXEC)
                let poller = try Child(["/usr/bin/python3", "-c", script, recorder.directory], input: ends[0],
                                       stdout: "\(recorder.workspace.path)/poll.out", stderr: "\(recorder.workspace.path)/poll.err")
                close(ends[0])
                defer {
                    close(ends[1])
                    poller.end()
                }
                #expect(poll { poller.output.contains("before") }, "\(poller.errors)")
                #expect(poller.output.hasPrefix("before []\n"), "nothing changed yet: \(poller.output)")
                _ = write(ends[1], "go\n", 3)
                #expect(poll { Self.inSyscall(poller.pid, 7) }, "the poller is not in poll(2)")
                // The lock, by a process that says when (CLOCK_MONOTONIC, as
                // the poller's) its write returned, and keeps the lock.
                let locker = try Child(["/usr/bin/python3", "-c", pythonScript("lock_and_say_when"), recorder.path("acquire")], stdout: "\(recorder.workspace.path)/locker.out",
                    stderr: "\(recorder.workspace.path)/locker.err")
                defer { locker.end() }
                #expect(poller.wait(within: .seconds(10)) == 0, "\(poller.errors)")
                #expect(poll { locker.output.hasSuffix("\n") }, "\(locker.errors)")
                let lines = poller.output.split(separator: "\n")
                let woke = lines.first { $0.hasPrefix("woke ") }?.split(separator: " ") ?? []
                let locked = Double(locker.output.trimmingNewline) ?? 0
                // Woken by the change itself: at most 100 ms after the write.
                #expect(woke.count >= 2 && abs((Double(woke[1]) ?? 0) - locked) < 0.1,
                        "woke at \(woke.dropFirst().first ?? "-"), locked at \(locked): \(poller.output)")
                #expect(lines.contains { $0.hasPrefix("woke ") && $0.contains("'generation', 'holders', 'lockcount', 'owner'") },
                        "\(poller.output)")
                // POLLPRI (2) | POLLERR (8)
                #expect(lines.contains { $0.hasSuffix("mask 10") }, "\(poller.output)")
                #expect(lines.contains("owner b'Watched\\n'"), "\(poller.output)")
                #expect(lines.contains("after read False"), "read again, the value is seen: \(poller.output)")
            }
        }

        /// Writes NAME to acquire_wait and prints when it got the lock
        /// ("got NAME"), then holds it until stdin closes, or prints the
        /// errno when the write fails (a SIGUSR1 interrupts it).
        static let waiter = pythonScript("acquire_waiter")

        @Test("acquire_wait shared by forked writers: each waits in the daemon, interruptible (not on the file's position lock); the holder's close serves the first and nests the rest")
        func sharedWaiters() throws {
            try withRecorder { recorder in
                let result = try run(["/usr/bin/python3", "-c", pythonScript("shared_waiters"), recorder.directory],
                                     within: .seconds(30))
                #expect(result.stdout == """
                    states S S S
                    second EINTR
                    first got
                    third got
                    owner Shared lockcount 2

                    """, "\(result)")
                try expectFree(recorder)
            }
        }

        @Test("acquire_wait in append mode (>> or fcntl O_APPEND): EINVAL at once, nothing changed; the kernel would hold every other waiter behind it")
        func appendModeRefused() throws {
            try withRecorder { recorder in
                let holder = try recorder.workspace.agent()
                _ = try holder.hold(recorder.path("acquire"), "Holder")
                let shell = try run(["sh", "-c", "echo Appender >> \(recorder.path("acquire_wait"))"], within: .seconds(10))
                #expect(shell.status == 1, "\(shell)")
                #expect(try probe("os.write(os.open(a[0], os.O_WRONLY | os.O_APPEND), b'Appender')", recorder.path("acquire_wait")) == "EINVAL")
                let script = """
                    import errno, fcntl, os, sys
                    fd = os.open(sys.argv[1], os.O_WRONLY)
                    fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | os.O_APPEND)
                    try:
                        os.write(fd, b"Appender")
                        print("written")
                    except OSError as e:
                        print(errno.errorcode[e.errno])
                    """
                let setLater = try run(["/usr/bin/python3", "-c", script, recorder.path("acquire_wait")], within: .seconds(10))
                #expect(setLater.stdout == "EINVAL\n", "\(setLater)")
                try expectHeld(recorder, by: "Holder", count: 1)
            }
        }

        @Test("acquire_wait: waiters get the lock one after the other, first come first served; a signal ends a wait with EINTR")
        func waitersInOrder() throws {
            try withRecorder { recorder in
                let holder = try recorder.workspace.agent()
                let handle = try holder.hold(recorder.path("acquire"), "First")
                var inputs: [Int32] = []
                var waiters: [Child] = []
                defer {
                    for input in inputs { close(input) }
                    for waiter in waiters { waiter.end() }
                }
                for name in ["Second", "Interrupted", "Third", "Fourth"] {
                    var ends: [Int32] = [0, 0]
                    #expect(pipe(&ends) == 0)
                    _ = fcntl(ends[1], F_SETFD, FD_CLOEXEC)
                    let waiter = try Child(["/usr/bin/python3", "-c", Self.waiter, recorder.path("acquire_wait"), name], input: ends[0],
                                           stdout: "\(recorder.workspace.path)/\(name).out", stderr: "\(recorder.workspace.path)/\(name).err")
                    close(ends[0])
                    inputs.append(ends[1])
                    waiters.append(waiter)
                    // In line before the next one comes: blocked in its write.
                    #expect(poll { waiter.output.hasPrefix("waiting\n") && Self.inSyscall(waiter.pid, 1) }, "\(name): \(waiter.errors)")
                }
                // A plain acquire is still refused, and nothing changed.
                #expect(try writeOnce(recorder.path("acquire"), "Barger") == "EBUSY")
                try expectHeld(recorder, by: "First", count: 1)

                waiters[1].signal(SIGUSR1)
                #expect(poll(within: .seconds(2)) { waiters[1].output.hasSuffix("EINTR\n") }, "\(waiters[1].output)")
                #expect(waiters[1].wait(within: .seconds(5)) == 0)
                try expectHeld(recorder, by: "First", count: 1)

                // Each close hands the recorder to the next in line.
                #expect(try holder.close(handle) == .ok(0))
                for (index, name) in [(0, "Second"), (2, "Third"), (3, "Fourth")] {
                    #expect(poll { waiters[index].output.contains("got \(name)\n") }, "\(name): \(waiters[index].output)")
                    try expectHeld(recorder, by: name, count: 1)
                    for later in waiters.indices where later > index && later != 1 {
                        #expect(!waiters[later].output.contains("got"), "\(waiters[later].output) before \(name) let go")
                    }
                    close(inputs[index])
                    inputs[index] = -1
                    #expect(waiters[index].wait(within: .seconds(5)) == 0)
                }
                inputs.removeAll { $0 == -1 }
                try expectFree(recorder)
                // A waiter on a free recorder gets it at once.
                #expect(try writeOnce(recorder.path("acquire_wait"), "Alone") == "OK 5")
                try expectFree(recorder)
            }
        }
    }
}
