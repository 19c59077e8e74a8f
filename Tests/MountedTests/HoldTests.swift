#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing

extension Mounted {
    /// `hold` as flock(1) for recorders (it waits, the command inherits the
    /// lock, signals go on to it), `wait` and `status --watch`, each driven
    /// as a separate process.
    @Suite("hold as flock(1), wait and watch")
    struct HoldTests {
        let binary = MountEnvironment.binary

        /// `hold sr0 --mountpoint M --name NAME OPTIONS -- COMMAND...`
        func hold(_ recorder: MountedRecorder, name: String = "Burner", options: [String] = [], _ command: [String]) -> [String] {
            [binary, "hold", "sr0", "--mountpoint", recorder.mountPoint, "--name", name] + options + ["--"] + command
        }

        /// A child of the test with its output in the workspace.
        func start(_ recorder: MountedRecorder, _ arguments: [String], _ label: String) throws -> Child {
            let base = "\(recorder.workspace.path)/\(label)"
            return try Child(arguments, stdout: base + ".out", stderr: base + ".err")
        }

        /// A shell command that writes its pid to `ready`, then runs until
        /// the file `go` exists.
        func waitingCommand(ready: String, go: String) -> [String] {
            ["sh", "-c", "echo $$ > \"$0\"; while [ ! -e \"$1\" ]; do sleep 0.02; done", ready, go]
        }

        func pid(in file: String) -> pid_t? {
            pid_t(fileText(file).trimmingNewline)
        }

        // MARK: The lock goes with the command

        @Test("hold killed with SIGKILL while its command runs: the lock stays until the command exits, then goes")
        func killedHoldKeepsLock() throws {
            try withRecorder { recorder in
                let ready = "\(recorder.workspace.path)/ready", go = "\(recorder.workspace.path)/go"
                let held = try start(recorder, hold(recorder, waitingCommand(ready: ready, go: go)), "hold")
                defer { held.end() }
                #expect(poll { pid(in: ready) != nil }, "the command did not start: \(held.errors)")
                let command = try #require(pid(in: ready))
                recorder.workspace.track(command)
                try expectHeld(recorder, by: "Burner", count: 1)

                held.signal(SIGKILL)
                #expect(held.wait(within: .seconds(10)) == 128 + SIGKILL)
                #expect(isAlive(command), "the command died with hold")
                try expectHeld(recorder, by: "Burner", count: 1)

                try run(["touch", go]).check()
                #expect(poll { !isAlive(command) }, "the command did not end")
                #expect(poll { (try? recorder.cat("lockcount")) == "0\n" }, "the lock outlived the command")
                try expectFree(recorder)
            }
        }

        @Test("SIGTERM to hold reaches the command, and hold exits with the command's status")
        func termForwarded() throws {
            try withRecorder { recorder in
                let ready = "\(recorder.workspace.path)/ready", trapped = "\(recorder.workspace.path)/trapped"
                // The shell runs its trap once the short sleep under way ends.
                let script = "trap 'echo TERM > \"$1\"; exit 7' TERM; echo $$ > \"$0\"; while :; do sleep 0.02; done"
                let held = try start(recorder, hold(recorder, ["sh", "-c", script, ready, trapped]), "hold")
                defer { held.end() }
                #expect(poll { pid(in: ready) != nil }, "the command did not start: \(held.errors)")
                held.signal(SIGTERM)
                #expect(held.wait(within: .seconds(10)) == 7, "stderr: \(held.errors)")
                #expect(fileText(trapped) == "TERM\n")
                try expectFree(recorder)

                // A command that SIGTERM kills: 128+15.
                let readyAgain = "\(recorder.workspace.path)/ready2"
                let sleeper = try start(recorder, hold(recorder, ["sh", "-c", "echo $$ > \"$0\"; exec sleep 30", readyAgain]), "hold2")
                defer { sleeper.end() }
                #expect(poll { pid(in: readyAgain) != nil && fileText("/proc/\(pid(in: readyAgain)!)/comm") == "sleep\n" })
                sleeper.signal(SIGTERM)
                #expect(sleeper.wait(within: .seconds(10)) == 128 + SIGTERM, "stderr: \(sleeper.errors)")
                try expectFree(recorder)
            }
        }

        @Test("the command sees RECORDERFS_LOCK_FD, and that descriptor is the lock: the name written through it nests")
        func commandInheritsLock() throws {
            try withRecorder { recorder in
                let script = """
                    fd=$RECORDERFS_LOCK_FD
                    echo "$fd"
                    readlink "/proc/$$/fd/$fd"
                    echo Burner >&"$fd" && cat "$0/owner" "$0/lockcount"
                    """
                let held = try run(hold(recorder, ["sh", "-c", script, recorder.directory]))
                #expect(held.status == 0, "\(held)")
                let lines = held.stdout.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
                #expect(lines.count == 5 && Int(lines[0]) != nil, "\(held)")
                #expect(lines.dropFirst().first == recorder.path("acquire_wait"), "\(held)")
                #expect(Array(lines.dropFirst(2)) == ["Burner", "2", ""], "\(held)")
                try expectFree(recorder)
            }
        }

        // MARK: Waiting

        @Test("two holds without an option, same name, started together: their commands run one after the other")
        func waitingHoldsTakeTurns() throws {
            try withRecorder { recorder in
                let times = "\(recorder.workspace.path)/times"
                let script = "s=$(date +%s%N); sleep 0.4; e=$(date +%s%N); echo \"$s $e\" >> \"$0\""
                let holds = try (0..<2).map { try start(recorder, hold(recorder, ["sh", "-c", script, times]), "hold\($0)") }
                defer { holds.forEach { $0.end() } }
                for held in holds {
                    #expect(held.wait(within: .seconds(20)) == 0, "stderr: \(held.errors)")
                }
                let intervals = fileText(times).split(separator: "\n").map { line in
                    line.split(separator: " ").compactMap { Int64($0) }
                }.sorted { ($0.first ?? 0) < ($1.first ?? 0) }
                #expect(intervals.count == 2 && intervals.allSatisfy { $0.count == 2 }, "times: \(fileText(times))")
                if intervals.count == 2, intervals.allSatisfy({ $0.count == 2 }) {
                    #expect(intervals[0][1] <= intervals[1][0], "the commands overlapped: \(intervals)")
                }
                try expectFree(recorder)
            }
        }

        @Test("-w 1 against a holder that stays exits 75 after about 1 s without running the command; -E 42 changes the status")
        func waitTimesOut() throws {
            try withRecorder { recorder in
                let agent = try recorder.workspace.agent()
                _ = try agent.hold(recorder.path("acquire"), "Other")
                let marker = "\(recorder.workspace.path)/ran"
                let started = ContinuousClock.now
                let timedOut = try run(hold(recorder, options: ["-w", "1"], ["touch", marker]))
                let elapsed = ContinuousClock.now - started
                #expect(timedOut.status == 75, "\(timedOut)")
                #expect(elapsed >= .milliseconds(900) && elapsed <= .seconds(3), "exited after \(elapsed)")
                expectOneSentence(timedOut)
                #expect(timedOut.stderr == "recorderfs: sr0 is still busy after 1 s: held by Other.\n", "\(timedOut)")
                #expect(access(marker, F_OK) != 0, "the command ran")
                try expectHeld(recorder, by: "Other", count: 1)

                let code = try run(hold(recorder, options: ["--wait", "0.2", "-E", "42"], ["touch", marker]))
                #expect(code.status == 42, "\(code)")
                #expect(access(marker, F_OK) != 0, "the command ran")
                try expectHeld(recorder, by: "Other", count: 1)
            }
        }

        @Test("-n against a holder exits 75 at once with the holder's name; --force -n too")
        func nonblockRefuses() throws {
            try withRecorder { recorder in
                let agent = try recorder.workspace.agent()
                _ = try agent.hold(recorder.path("acquire"), "Other")
                for options in [["-n"], ["--nonblock", "--force"]] {
                    let started = ContinuousClock.now
                    let refused = try run(hold(recorder, options: options, ["true"]))
                    #expect(refused.status == 75, "\(options): \(refused)")
                    #expect(ContinuousClock.now - started < .seconds(2), "\(options)")
                    #expect(refused.stderr == "recorderfs: sr0 is busy: held by Other.\n", "\(options): \(refused)")
                }
                let code = try run(hold(recorder, options: ["-n", "--conflict-exit-code", "3"], ["true"]))
                #expect(code.status == 3, "\(code)")
                try expectHeld(recorder, by: "Other", count: 1)
            }
        }

        @Test("--force without -n waits until the holder lets go, then takes acquire_force")
        func forceWaits() throws {
            try withRecorder { recorder in
                let agent = try recorder.workspace.agent()
                let handle = try agent.hold(recorder.path("acquire"), "Other")
                let held = try start(recorder, hold(recorder, options: ["--force"],
                                                    ["sh", "-c", "cat \"$0/owner\" \"$0/lockcount\"", recorder.directory]), "hold")
                defer { held.end() }
                // Still waiting after the agent's next round trip.
                #expect(try agent.read(agent.openDescriptor(recorder.path("owner"), .readOnly)) == .ok(6))
                #expect(held.isRunning, "hold did not wait: \(held.errors)")
                #expect(try agent.close(handle) == .ok(0))
                #expect(held.wait(within: .seconds(10)) == 0, "stderr: \(held.errors)")
                #expect(held.output == "Burner\n1\n")
                try expectFree(recorder)
            }
        }

        // MARK: Statuses and messages

        @Test("a command that cannot be run exits 126, one that is not found 127, each with one sentence")
        func commandStatuses() throws {
            try withRecorder { recorder in
                let notExecutable = try run(hold(recorder, ["/etc/passwd"]))
                #expect(notExecutable.status == 126, "\(notExecutable)")
                #expect(notExecutable.stderr == "recorderfs: cannot run /etc/passwd: Permission denied.\n", "\(notExecutable)")
                let missing = try run(hold(recorder, ["no-such-command-recorderfs"]))
                #expect(missing.status == 127, "\(missing)")
                #expect(missing.stderr == "recorderfs: cannot run no-such-command-recorderfs: no such command.\n", "\(missing)")
                try expectFree(recorder)
            }
        }

        @Test("an unknown recorder names the recorders there; a path that is not a recorder directory says so")
        func unknownRecorder() throws {
            try withRecorder { recorder in
                let unknown = try run([binary, "hold", "sr9", "--mountpoint", recorder.mountPoint, "--name", "A", "--", "true"])
                expectOneSentence(unknown)
                #expect(unknown.stderr == "recorderfs: no recorder sr9 on \(recorder.mountPoint) (recorders: sr0).\n", "\(unknown)")
                let plain = try recorder.workspace.directory("plain")
                let notRecorder = try run([binary, "hold", plain, "--name", "A", "--", "true"])
                expectOneSentence(notRecorder)
                #expect(notRecorder.stderr == "recorderfs: \(plain) is not a recorder directory.\n", "\(notRecorder)")
                let waited = try run([binary, "wait", "sr9", "--mountpoint", recorder.mountPoint])
                #expect(waited.stderr == "recorderfs: no recorder sr9 on \(recorder.mountPoint) (recorders: sr0).\n", "\(waited)")
                try expectFree(recorder)
            }
        }

        @Test("without --mountpoint: RECORDERFS_MOUNTPOINT, else the only recorderfs mount")
        func mountPointFallbacks() throws {
            try withRecorder { recorder in
                let command = ["sh", "-c", "cat \"$0/owner\"", recorder.directory]
                let fromVariable = try run(["env", "RECORDERFS_MOUNTPOINT=\(recorder.mountPoint)",
                                            binary, "hold", "sr0", "--name", "Variable", "--"] + command)
                #expect(fromVariable.status == 0 && fromVariable.stdout == "Variable\n", "\(fromVariable)")

                // In a mount namespace of its own where every other recorderfs
                // mount (other trees on this machine) is gone.
                let script = """
                    unset RECORDERFS_MOUNTPOINT
                    awk '$0 ~ / - fuse\\.recorderfs / { print $5 }' /proc/self/mountinfo | sort -u | while read -r m; do
                        [ "$m" = "$1" ] || umount -l "$m" || exit 99
                    done
                    exec "$0" hold sr0 --name Only -- sh -c 'cat "$0/owner"' "$1/sr0"
                    """
                let fromTable = try run(["unshare", "-m", "--propagation", "private", "/bin/sh", "-c", script,
                                         binary, recorder.mountPoint])
                #expect(fromTable.status == 0 && fromTable.stdout == "Only\n", "\(fromTable)")
                try expectFree(recorder)
            }
        }

        // MARK: wait

        @Test("wait --free returns once the holder closes; wait --held --timeout 1 on a free recorder exits 1")
        func waitCommand() throws {
            try withRecorder { recorder in
                let free = try run([binary, "wait", "sr0", "--mountpoint", recorder.mountPoint], within: .seconds(5))
                #expect(free.status == 0, "\(free)")

                let agent = try recorder.workspace.agent()
                let handle = try agent.hold(recorder.path("acquire"), "Other")
                let held = try run([binary, "wait", recorder.directory, "--held"], within: .seconds(5))
                #expect(held.status == 0, "\(held)")
                let waiting = try start(recorder, [binary, "wait", "sr0", "--free", "--mountpoint", recorder.mountPoint], "wait")
                defer { waiting.end() }
                // Still waiting after the agent's next round trip.
                #expect(try agent.read(agent.openDescriptor(recorder.path("lockcount"), .readOnly)) == .ok(2))
                #expect(waiting.isRunning, "wait --free returned while held: \(waiting.errors)")
                #expect(try agent.close(handle) == .ok(0))
                #expect(waiting.wait(within: .seconds(5)) == 0, "stderr: \(waiting.errors)")

                let started = ContinuousClock.now
                let timedOut = try run([binary, "wait", "sr0", "--held", "--timeout", "1", "--mountpoint", recorder.mountPoint])
                let elapsed = ContinuousClock.now - started
                #expect(timedOut.status == 1, "\(timedOut)")
                #expect(timedOut.stderr == "", "\(timedOut)")
                #expect(elapsed >= .milliseconds(900) && elapsed <= .seconds(3), "exited after \(elapsed)")
            }
        }

        // MARK: status --watch

        @Test("status --watch prints the table, then the event and a new table after a lock")
        func statusWatch() throws {
            try withRecorder { recorder in
                let watch = try start(recorder, [binary, "status", "--watch", recorder.mountPoint], "watch")
                defer { watch.end() }
                let output = watch.stdoutPath
                let firstTable = poll { fileText(output).contains("\nsr0 ") }
                #expect(firstTable, "no first table: \(watch.output) \(watch.errors)")
                #expect(!watch.output.contains("Watched"))
                let agent = try recorder.workspace.agent()
                _ = try agent.hold(recorder.path("acquire"), "Watched")
                let event = " sr0 lock Watched pid=\(agent.pid) uid=0 gen="
                let holder = "  holder Watched pid=\(agent.pid) "
                let shown = poll { watchShows(fileText(output), event: event, holder: holder) }
                #expect(shown, "output: \(watch.output)")
                let tables = watch.output.split(separator: "\n").filter { $0.hasPrefix("RECORDER ") }.count
                #expect(tables >= 2, "\(watch.output)")
                #expect(watch.isRunning, "\(watch.errors)")
                watch.signal(SIGINT)
                #expect(watch.wait(within: .seconds(5)) == 128 + SIGINT)
            }
        }
    }
}

/// The output of `status --watch` shows the event line, then a table whose
/// sr0 row has the owner Watched and whose holder line is `holder`.
private func watchShows(_ output: String, event: String, holder: String) -> Bool {
    let lines = output.split(separator: "\n")
    guard let eventLine = lines.firstIndex(where: { $0.contains(event) }) else { return false }
    let after = lines[eventLine...]
    return after.contains { $0.hasPrefix("sr0 ") && $0.contains(" Watched ") } && after.contains { $0.hasPrefix(holder) }
}
