#if canImport(Glibc)
import Glibc
#endif
import Testing

extension Mounted {
    /// SIGKILL of the daemon at random moments while clients lock and unlock:
    /// the clients lose their locks (ENOTCONN), the kernel frees every claim,
    /// and the next mount starts clean.
    @Suite("Daemon faults")
    struct DaemonFaultTests {
        static let names = ["sr0", "sr1"]

        /// A client of the fault test. `holder`: takes a lock on every
        /// recorder through handles it keeps, says "started", then nests and
        /// reads. `churn NAME`: opens, writes NAME (EBUSY allowed), closes and
        /// reads, in a loop, and says "started" after its first round. Both
        /// run until an operation fails and print "lost ERRNO" (ENOTCONN, or
        /// ECONNABORTED for a request in flight when the connection was
        /// aborted), or "error ..." for anything else.
        static let client = pythonScript("client_until_lost")

        /// Every value of the lock of each recorder, read by one process.
        static let readState = pythonScript("read_state")

        /// What `readState` prints of a free recorder, but its generation.
        static let cleanState = names.flatMap { name in
            ["\(name) owner b''", "\(name) lockcount b'0\\n'", "\(name) holders b''"]
        }.map { $0 + "\n" }.joined()

        /// What `readState` printed, its generation lines taken out, and the
        /// generations by recorder.
        static func generationsTakenOut(_ state: String) -> (rest: String, generations: [String: UInt64]) {
            var rest = ""
            var generations: [String: UInt64] = [:]
            for line in state.split(separator: "\n") {
                let words = line.split(separator: " ")
                if words.count == 3, words[1] == "generation",
                   let value = UInt64(words[2].dropFirst(2).prefix { $0.isNumber }) {
                    generations[String(words[0])] = value
                } else {
                    rest += line + "\n"
                }
            }
            return (rest, generations)
        }

        /// The state is clean, and each generation is above `previous` (a
        /// new daemon never repeats a fencing token: issue H); `previous`
        /// becomes the new ones.
        static func expectClean(_ state: Finished, above previous: inout [String: UInt64], _ when: String,
                                sourceLocation: SourceLocation = #_sourceLocation) {
            let (rest, generations) = generationsTakenOut(state.stdout)
            #expect(rest == cleanState, "\(when): not clean after the mount: \(state)", sourceLocation: sourceLocation)
            for name in names {
                #expect(generations[name].map { $0 > previous[name, default: 0] } == true,
                        "\(when): the generation of \(name) is \(generations[name].map(String.init) ?? "missing"), the daemon before showed \(previous[name, default: 0])",
                        sourceLocation: sourceLocation)
            }
            previous = generations
        }

        /// Starts `recorderfs mount` in the foreground and waits (at most
        /// 10 s) until it logs that it is mounted. The kernel reuses the id
        /// of a stale mount that is gone at once, so the log, not a new
        /// mount id, tells when the new daemon is ready.
        static func startDaemon(_ workspace: Workspace, mountPoint: String, devices: [String], index: Int) throws -> Child {
            let log = "\(workspace.path)/fault-daemon\(index).log"
            let arguments = [MountEnvironment.binary, "mount", mountPoint, "--no-discover"]
                + zip(names, devices).flatMap { ["--device", "\($0)=\($1)"] }
            let daemon = try Child(arguments, stdout: log + ".out", stderr: log)
            let ready = poll(within: .seconds(10)) {
                fileText(log).split(separator: "\n").contains { $0.hasSuffix(" mounted") } || !daemon.isRunning
            }
            guard ready, daemon.isRunning else {
                daemon.end()
                throw TestFailure("`\(daemon.commandLine)` did not mount within 10 s (running: \(daemon.isRunning)); log: \(fileText(log))")
            }
            return daemon
        }

        /// Opens `node` with O_EXCL and flocks it LOCK_EX|LOCK_NB, in this
        /// process, and lets both go at once: "OK", or what failed.
        static func claimFree(_ node: String) -> String {
            let descriptor = open(node, O_RDONLY | O_NONBLOCK | O_EXCL | O_CLOEXEC)
            guard descriptor >= 0 else { return "open(O_EXCL): \(String(cString: strerror(errno)))" }
            defer { close(descriptor) }
            guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else { return "flock: \(String(cString: strerror(errno)))" }
            return "OK"
        }

        /// Whether the daemon holds the flock of `node` (a LOCK_EX|LOCK_NB
        /// flock fails); one that was free is let go at once.
        static func flockHeld(_ node: String) -> Bool {
            let descriptor = open(node, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
            guard descriptor >= 0 else { return false }
            defer { close(descriptor) }
            return flock(descriptor, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK
        }

        @Test("SIGKILL of the daemon 50 times while clients lock: ENOTCONN, claims freed, each mount starts clean")
        func killedFiftyTimes() throws {
            try withWorkspace { workspace in
                let devices = [try workspace.loopDevice(), try workspace.loopDevice()]
                let mountPoint = try workspace.directory("mnt")
                let directories = Self.names.map { "\(mountPoint)/\($0)" }
                var daemon = try Self.startDaemon(workspace, mountPoint: mountPoint, devices: devices, index: 0)
                defer { daemon.end() }
                let clock = ContinuousClock()
                let start = clock.now
                var toFree: [Duration] = []
                var restarts: [Duration] = []
                var lost: [String: Int] = [:]
                var generations: [String: UInt64] = [:]
                for iteration in 0..<50 {
                    let state = try run(["/usr/bin/python3", "-c", Self.readState] + directories)
                    Self.expectClean(state, above: &generations, "iteration \(iteration)")

                    // A holder of both recorders; once it holds them, a client
                    // that nests on its name and one that is refused.
                    let roles = [("holder", "Holder"), ("churn", "Holder"), ("churn", "Other")]
                    var clients: [Child] = []
                    defer { clients.forEach { $0.end() } }
                    for (index, role) in roles.enumerated() {
                        let client = try Child(
                            ["/usr/bin/python3", "-c", Self.client, directories.joined(separator: ","), role.0, role.1],
                            stdout: "\(workspace.path)/fault\(iteration)-\(index).out",
                            stderr: "\(workspace.path)/fault\(iteration)-\(index).err")
                        clients.append(client)
                        if index == 0 {
                            _ = poll(within: .seconds(10)) { client.output.hasPrefix("started\n") || !client.isRunning }
                        }
                    }
                    let started = poll(within: .seconds(10)) {
                        clients.allSatisfy { $0.output.hasPrefix("started\n") || !$0.isRunning }
                    }
                    #expect(started && clients.allSatisfy(\.isRunning),
                            "iteration \(iteration): clients did not start: \(clients.map { $0.output + $0.errors })")
                    // The daemon holds the claim of every recorder now.
                    for device in devices {
                        #expect(Self.flockHeld(device), "iteration \(iteration): \(device) not claimed while held")
                    }

                    usleep(UInt32.random(in: 10_000...200_000))
                    let killed = clock.now
                    daemon.signal(SIGKILL)
                    #expect(daemon.wait(within: .seconds(10)) == 128 + SIGKILL, "iteration \(iteration)")
                    // The kernel let every claim go with the daemon's descriptors.
                    for device in devices {
                        let free = Self.claimFree(device)
                        #expect(free == "OK", "iteration \(iteration): \(device) right after the daemon was reaped: \(free)")
                    }
                    toFree.append(clock.now - killed)

                    // Every client loses its locks: ENOTCONN (ECONNABORTED for a
                    // request that was in flight).
                    for (index, client) in clients.enumerated() {
                        let status = client.wait(within: .seconds(10))
                        let last = client.output.split(separator: "\n").last.map(String.init) ?? ""
                        #expect(status == 0 && (last == "lost ENOTCONN" || last == "lost ECONNABORTED"),
                                "iteration \(iteration), client \(index) (\(roles[index])): status \(String(describing: status)), output \(client.output.debugDescription), errors \(client.errors.debugDescription)")
                        lost[last, default: 0] += 1
                    }
                    let dead = try probe("os.open(a[0], os.O_RDONLY)", "\(directories[0])/owner")
                    #expect(dead == "ENOTCONN", "iteration \(iteration): the dead mount answers \(dead)")
                    let stale = mounts(at: mountPoint)
                    #expect(stale.map(\.type) == ["fuse.recorderfs"], "iteration \(iteration): \(stale)")

                    // The next mount removes the stale one and starts clean
                    // (checked at the top of the next iteration).
                    let restarted = clock.now
                    daemon = try Self.startDaemon(workspace, mountPoint: mountPoint, devices: devices, index: iteration + 1)
                    restarts.append(clock.now - restarted)
                    let now = mounts(at: mountPoint)
                    #expect(now.map(\.type) == ["fuse.recorderfs"], "iteration \(iteration): after the restart: \(now)")
                    let log = fileText("\(workspace.path)/fault-daemon\(iteration + 1).log")
                    #expect(log.contains("removing the stale mount"), "iteration \(iteration): \(log)")
                }
                let state = try run(["/usr/bin/python3", "-c", Self.readState] + directories)
                Self.expectClean(state, above: &generations, "after the last restart")
                daemon.signal(SIGTERM)
                #expect(daemon.wait(within: .seconds(10)) == 0)
                #expect(mounts(at: mountPoint).isEmpty)

                let total = clock.now - start
                func milliseconds(_ duration: Duration) -> String {
                    let (seconds, attoseconds) = duration.components
                    return String(Double(seconds) * 1000 + Double(attoseconds) / 1e15)
                        .split(separator: ".").first.map(String.init) ?? "?"
                }
                let sortedFree = toFree.sorted(), sortedRestarts = restarts.sorted()
                print("daemon faults: 50 SIGKILLs in \(milliseconds(total)) ms (\(milliseconds(total / 50)) ms per iteration: "
                      + "mount, 3 clients, kill after 10-200 ms, checks); "
                      + "SIGKILL to reaped with every claim free: max \(milliseconds(sortedFree.last ?? .zero)) ms; "
                      + "restart to mounted: median \(milliseconds(sortedRestarts[sortedRestarts.count / 2])) ms, "
                      + "max \(milliseconds(sortedRestarts.last ?? .zero)) ms; clients: \(lost)")
            }
        }
    }
}
