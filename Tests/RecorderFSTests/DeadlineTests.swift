#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing

extension MountedTests {
    /// Issue C: deadlines, and what DriveControlTests leaves out of holders,
    /// generation and the tray.
    @Suite("Deadlines, holders, fencing and the tray under other holders")
    struct DeadlineTests {
        /// Opens a file for writing, says "writing", writes a name in one
        /// write(2) and prints its outcome ("OK" or the errno name) and how
        /// long the write took, in seconds.
        static let timedWrite = """
            import errno, os, sys, time
            fd = os.open(sys.argv[1], os.O_WRONLY)
            print("writing", flush=True)
            start = time.monotonic()
            try:
                os.write(fd, sys.argv[2].encode())
                outcome = "OK"
            except OSError as e:
                outcome = errno.errorcode.get(e.errno, str(e.errno))
            print(outcome, "%.3f" % (time.monotonic() - start), flush=True)
            """

        /// What `timedWrite` printed after "writing": its outcome and seconds.
        static func timedOutcome(_ output: String) -> (String, Double)? {
            let lines = output.split(separator: "\n")
            guard lines.count == 2, lines[0] == "writing" else { return nil }
            let words = lines[1].split(separator: " ")
            guard words.count == 2, let seconds = Double(words[1]) else { return nil }
            return (String(words[0]), seconds)
        }

        /// The deadline is 1 s: ETIMEDOUT takes about that, neither much
        /// less (no waiting at all) nor much more (a worker stuck behind it).
        static func expectDeadline(_ output: String, sourceLocation: SourceLocation = #_sourceLocation) {
            guard let (outcome, seconds) = timedOutcome(output) else {
                Issue.record("the timed write printed \(output.debugDescription)", sourceLocation: sourceLocation)
                return
            }
            #expect(outcome == "ETIMEDOUT", sourceLocation: sourceLocation)
            #expect(seconds >= 0.9 && seconds < 3, "the write took \(seconds) s with --timeout 1", sourceLocation: sourceLocation)
        }

        /// How long `body` takes.
        static func timed<T>(_ body: () throws -> T) rethrows -> (T, Duration) {
            let start = ContinuousClock.now
            let result = try body()
            return (result, ContinuousClock.now - start)
        }

        @Test("a shared flock held past the deadline: ETIMEDOUT after about 1 s; meanwhile other recorders and reads do not wait")
        func sharedFlockPastDeadline() throws {
            try withWorkspace { workspace in
                let stuckDevice = try workspace.loopDevice()
                let otherDevice = try workspace.loopDevice()
                let mountPoint = try workspace.directory("mnt")
                let daemon = try workspace.startDaemon(mountPoint: mountPoint, [
                    "--no-discover", "--device", "sr0=\(stuckDevice)", "--device", "sr1=\(otherDevice)", "--timeout", "1",
                ])
                let stuck = MountedRecorder(workspace: workspace, mountPoint: mountPoint, device: stuckDevice, daemon: daemon)
                let other = MountedRecorder(workspace: workspace, mountPoint: mountPoint, device: otherDevice, daemon: daemon,
                                            name: "sr1")
                let otherAgent = try workspace.agent()

                // Like udev, but for longer than the deadline.
                let blocker = try workspace.agent()
                let node = try blocker.openDescriptor(stuckDevice, .readOnly)
                #expect(try blocker.flock(node, .shared) == .ok(0))

                let first = try run(["/usr/bin/python3", "-c", Self.timedWrite, stuck.path("acquire"), "Stuck"])
                Self.expectDeadline(first.stdout)
                let logged = poll(within: .seconds(5)) { !daemon.logLines(containing: "refused", "pid=\(first.pid) ").isEmpty }
                let refusals = daemon.logLines(containing: "refused", "pid=\(first.pid) ")
                #expect(logged && refusals.count == 1, "log: \(daemon.log)")
                for field in ["op=acquire", "recorder=sr0", "uid=0", "reason="] {
                    #expect(refusals.first?.contains(field) == true, "\(field) missing in: \(refusals)")
                }
                try expectFree(stuck)
                #expect(try stuck.cat("holders") == "")
                #expect(try stuck.generation() == 0, "a timed-out acquire is no free→locked transition")

                // Again, in the background: the rest of the tree answers meanwhile.
                let pending = try Child(["/usr/bin/python3", "-c", Self.timedWrite, stuck.path("acquire"), "Stuck"],
                                        stdout: "\(workspace.path)/pending.out", stderr: "\(workspace.path)/pending.err")
                defer { pending.end() }
                let writing = poll(within: .seconds(10)) { pending.output.hasPrefix("writing\n") || !pending.isRunning }
                #expect(writing && pending.isRunning, "the background acquire: \(pending.output.debugDescription) \(pending.errors)")
                usleep(100_000)   // its write has reached the daemon
                // The same name from another process, through another handle,
                // does not wait for that claim: one handle, one holder, so it
                // is refused at once (through acquire_force: the kernel lets
                // one write at a time into a file).
                let refused = try run(["/usr/bin/python3", "-c", Self.timedWrite, stuck.path("acquire_force"), "Stuck"])
                let refusal = Self.timedOutcome(refused.stdout)
                #expect(refusal?.0 == "EBUSY", "the second acquire printed \(refused.stdout.debugDescription)")
                #expect((refusal?.1 ?? 9) < 0.5, "the second acquire took \(refusal?.1 ?? -1) s")

                let (handle, took) = try Self.timed { try otherAgent.hold(other.path("acquire"), "Other") }
                #expect(took < .milliseconds(500), "locking sr1 took \(took)")
                try expectHeld(other, by: "Other", count: 1)
                #expect(try otherAgent.close(handle) == .ok(0))
                try expectFree(other)
                for (file, content) in [("owner", ""), ("lockcount", "0\n"), ("holders", "")] {
                    let (read, took) = try Self.timed { try stuck.cat(file) }
                    #expect(read == content, "\(file)")
                    #expect(took < .milliseconds(500), "reading \(file) of the stuck sr0 took \(took)")
                }
                #expect(pending.isRunning, "the stuck acquire ended before the checks did: \(pending.output.debugDescription)")

                #expect(pending.wait(within: .seconds(10)) == 0, "\(pending.errors)")
                Self.expectDeadline(pending.output)
                try expectFree(stuck)
                #expect(try stuck.generation() == 0)

                // The flock goes: sr0 locks at once.
                #expect(try blocker.close(node) == .ok(0))
                let agent = try workspace.agent()
                let (locked, lockTook) = try Self.timed { try agent.hold(stuck.path("acquire"), "Unstuck") }
                #expect(lockTook < .milliseconds(900), "locking sr0 after the flock went took \(lockTook)")
                #expect(try stuck.cat("lockcount") == "1\n")
                #expect(try stuck.cat("owner") == "Unstuck\n")
                #expect(try stuck.generation() == 1)
                #expect(try agent.close(locked) == .ok(0))
                #expect(try stuck.cat("lockcount") == "0\n")
                try expectFree(stuck)
            }
        }

        @Test("eject and closetray: EBUSY under another uid's lock; EOPNOTSUPP on a loop device when free, for the holder, and for root")
        func trayUnderAnotherHolder() throws {
            try withRecorder(["--allow-other"]) { recorder in
                let nobody = asNobody(group: try diskGroup())
                // EOPNOTSUPP and ENOTSUP are one number on Linux; python names it ENOTSUP.
                for file in ["eject", "closetray"] {
                    #expect(try writeOnce(recorder.path(file), "x", user: nobody) == "ENOTSUP", "\(file), free, uid 65534")
                }

                let root = try recorder.workspace.agent()
                let rootHandle = try root.hold(recorder.path("acquire"), "Root")
                for file in ["eject", "closetray"] {
                    #expect(try writeOnce(recorder.path(file), "x", user: nobody) == "EBUSY", "\(file) by uid 65534 under root's lock")
                    #expect(try writeOnce(recorder.path(file), "x") == "ENOTSUP", "\(file) by the holder, root")
                }
                try expectHeld(recorder, by: "Root", count: 1)
                #expect(try root.close(rootHandle) == .ok(0))

                let stranger = try recorder.workspace.agent(user: nobody)
                let strangerHandle = try stranger.hold(recorder.path("acquire"), "Nobody")
                for file in ["eject", "closetray"] {
                    let descriptor = try stranger.openDescriptor(recorder.path(file))
                    #expect(try stranger.write(descriptor, "x") == .failed("ENOTSUP"), "\(file) by the holder, uid 65534")
                    #expect(try stranger.close(descriptor) == .ok(0))
                    #expect(try writeOnce(recorder.path(file), "x") == "ENOTSUP", "\(file) by root under uid 65534's lock")
                }
                try expectHeld(recorder, by: "Nobody", count: 1)
                #expect(try stranger.close(strangerHandle) == .ok(0))
                try expectFree(recorder)
            }
        }

        /// One line of `holders`, without its time.
        struct HolderLine: Equatable, CustomStringConvertible {
            var name: String
            var pid: Int
            var uid: Int
            var count: Int

            var description: String { "\(name) pid=\(pid) uid=\(uid) count=\(count)" }
        }

        /// `holders` of `recorder`, each line checked against the format
        /// `NAME pid=PID uid=UID count=N since=YYYY-MM-DDTHH:MM:SSZ` and its
        /// time against the clock (not before `earliest`, not in the future).
        static func holders(_ recorder: MountedRecorder, since earliest: Date,
                            sourceLocation: SourceLocation = #_sourceLocation) throws -> [HolderLine] {
            let text = try recorder.cat("holders")
            let latest = Date()
            if !text.isEmpty && !text.hasSuffix("\n") {
                Issue.record("holders does not end with a newline: \(text.debugDescription)", sourceLocation: sourceLocation)
            }
            let format = /([A-Za-z0-9 .,:;_-]{1,63}) pid=([0-9]+) uid=([0-9]+) count=([0-9]+) since=(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)/
            return text.split(separator: "\n", omittingEmptySubsequences: false).dropLast().compactMap { line in
                guard let match = line.wholeMatch(of: format), let pid = Int(match.2), let uid = Int(match.3),
                      let count = Int(match.4) else {
                    Issue.record("holders line \(String(line).debugDescription) has not the format", sourceLocation: sourceLocation)
                    return nil
                }
                let since = ISO8601DateFormatter().date(from: String(match.5))
                let inWindow = since.map { $0 >= earliest.addingTimeInterval(-1) && $0 <= latest.addingTimeInterval(1) } ?? false
                #expect(inWindow, "since=\(match.5) is not between \(earliest) and \(latest)", sourceLocation: sourceLocation)
                return HolderLine(name: String(match.1), pid: pid, uid: uid, count: count)
            }
        }

        @Test("holders: a release drops the count, a forked child keeps the line until both close, another uid's second handle is refused")
        func holdersThroughReleaseAndFork() throws {
            try withRecorder(["--allow-other"]) { recorder in
                let start = Date()
                let agent = try recorder.workspace.agent()
                let handle = try agent.hold(recorder.path("acquire"), "MyApp")
                #expect(try agent.write(handle, "MyApp") == .ok(5))
                #expect(try Self.holders(recorder, since: start) == [HolderLine(name: "MyApp", pid: Int(agent.pid), uid: 0, count: 2)])

                #expect(try writeOnce(recorder.path("release"), "MyApp") == "OK 5")
                #expect(try Self.holders(recorder, since: start) == [HolderLine(name: "MyApp", pid: Int(agent.pid), uid: 0, count: 1)])
                try expectHeld(recorder, by: "MyApp", count: 1)

                // The child inherits the handle: its line stays, with the pid
                // that took the first lock, until both have closed it.
                guard case .ok(let child) = try agent.fork() else { throw TestFailure("fork failed") }
                #expect(try agent.close(handle) == .ok(0))
                #expect(try Self.holders(recorder, since: start) == [HolderLine(name: "MyApp", pid: Int(agent.pid), uid: 0, count: 1)])
                try expectHeld(recorder, by: "MyApp", count: 1)
                #expect(try agent.endChild(child) == .ok(0))
                #expect(try recorder.cat("holders") == "")
                try expectFree(recorder)

                // Another uid, two handles of one process: one handle, one
                // holder, so the second is refused and there is one line.
                let stranger = try recorder.workspace.agent(user: asNobody(group: try diskGroup()))
                let first = try stranger.hold(recorder.path("acquire"), "Nobody")
                let second = try stranger.openDescriptor(recorder.path("acquire"))
                #expect(try stranger.write(second, "Nobody") == .failed("EBUSY"))
                #expect(try stranger.write(first, "Nobody") == .ok(6))
                #expect(try stranger.write(first, "Nobody") == .ok(6))
                let line = { (count: Int) in HolderLine(name: "Nobody", pid: Int(stranger.pid), uid: 65534, count: count) }
                #expect(try Self.holders(recorder, since: start) == [line(3)])
                try expectHeld(recorder, by: "Nobody", count: 3)
                // release drops the most recent lock.
                #expect(try writeOnce(recorder.path("release"), "Nobody") == "OK 6")
                #expect(try Self.holders(recorder, since: start) == [line(2)])
                // The refused handle holds nothing: closing it changes nothing.
                #expect(try stranger.close(second) == .ok(0))
                #expect(try Self.holders(recorder, since: start) == [line(2)])
                #expect(try stranger.close(first) == .ok(0))
                #expect(try recorder.cat("holders") == "")
                try expectFree(recorder)
            }
        }

        @Test("generation: +1 per free→locked transition, whatever the way; never on nesting, refusals or releases")
        func generationTransitions() throws {
            try withRecorder { recorder in
                #expect(try recorder.generation() == 0)
                let agent = try recorder.workspace.agent()
                let handle = try agent.hold(recorder.path("acquire"), "A")
                #expect(try recorder.generation() == 1)
                #expect(try writeOnce(recorder.path("acquire"), "B") == "EBUSY")
                #expect(try writeOnce(recorder.path("acquire"), "A/B") == "EINVAL")
                #expect(try agent.write(handle, "A") == .ok(1))
                // Another handle, even of the same name, is refused.
                #expect(try writeOnce(recorder.path("acquire_force"), "A") == "EBUSY")
                #expect(try agent.write(handle, "A") == .ok(1))
                try expectHeld(recorder, by: "A", count: 3)
                #expect(try recorder.generation() == 1)
                #expect(try writeOnce(recorder.path("release"), "A") == "OK 1")
                #expect(try writeOnce(recorder.path("release"), "A") == "OK 1")
                #expect(try writeOnce(recorder.path("release"), "A") == "OK 1")
                try expectFree(recorder)
                #expect(try recorder.generation() == 1)
                // The same open handle locks again: a new transition.
                #expect(try agent.write(handle, "A") == .ok(1))
                #expect(try recorder.generation() == 2)
                #expect(try agent.close(handle) == .ok(0))
                #expect(try recorder.generation() == 2)
                for expected in 3...5 {
                    #expect(try writeOnce(recorder.path("acquire_force"), "C") == "OK 1")
                    #expect(try recorder.generation() == UInt64(expected))
                }
                try expectFree(recorder)
            }
        }
    }
}
