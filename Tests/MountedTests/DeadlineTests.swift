#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing

extension Mounted {
    /// Issue C: a drive that does not answer within the deadline.
    @Suite("Deadlines")
    struct DeadlineTests {
        /// Opens a file for writing, says "writing", writes a name in one
        /// write(2) and prints its outcome ("OK" or the errno name) and how
        /// long the write took, in seconds.
        static let timedWrite = pythonScript("timed_write")

        /// What `timedWrite` printed after "writing": its outcome and seconds.
        static func timedOutcome(_ output: String) -> (String, Double)? {
            let lines = output.split(separator: "\n")
            guard lines.count == 2, lines[0] == "writing" else { return nil }
            let words = lines[1].split(separator: " ")
            guard words.count == 2, let seconds = Double(words[1]) else { return nil }
            return (String(words[0]), seconds)
        }

        /// Writes `name` to `path` from another process and expects EBUSY
        /// within a second (the deadline is 5 s: a refusal, not a wait).
        static func expectBusyAtOnce(_ path: String, _ name: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
            let write = try run(["/usr/bin/python3", "-c", timedWrite, path, name])
            let outcome = timedOutcome(write.stdout)
            #expect(outcome?.0 == "EBUSY", "\(write)", sourceLocation: sourceLocation)
            #expect((outcome?.1 ?? 9) < 1, "EBUSY took \(outcome?.1 ?? 9) s with a 5 s deadline", sourceLocation: sourceLocation)
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
    }
}
