#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing

extension Mounted {
    /// Issue K: while locked, the drive stays quiet — its SCSI generic node
    /// is claimed too, media polling is paused, a change uevent follows each
    /// release, sleep waits, and the claim state is visible
    /// (docs/design.md §4, "The drive kept quiet").
    @Suite("The drive kept quiet while locked")
    struct QuietDriveTests {
        enum Mode: String, CustomTestStringConvertible, Sendable {
            case advisory, exclusive

            var options: [String] { self == .exclusive ? ["--exclusive"] : [] }
            var testDescription: String { "\(rawValue) claim" }
        }

        /// "OK" when nobody holds a flock on `node`, else the errno name.
        static func flockProbe(_ node: String) throws -> String {
            try probe("fd = os.open(a[0], os.O_RDONLY | os.O_NONBLOCK); fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)", node)
        }

        static func expectFlockHeld(_ node: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
            let outcome = try flockProbe(node)
            #expect(outcome == "EAGAIN" || outcome == "EWOULDBLOCK", "flock LOCK_EX|LOCK_NB of \(node): \(outcome)",
                    sourceLocation: sourceLocation)
        }

        /// MAJOR:MINOR of a block device node, as sysfs names it.
        static func numbers(_ node: String) throws -> String {
            let name = node.split(separator: "/").last.map(String.init) ?? node
            let text = fileText("/sys/block/\(name)/dev").trimmingNewline
            guard text.contains(":") else { throw TestFailure("no /sys/block/\(name)/dev") }
            return text
        }

        // MARK: The SCSI generic node

        @Test("the claim covers the sg stand-in: both nodes claimed while locked and let go together", arguments: [Mode.advisory, .exclusive])
        func genericNodeClaimedWithTheBlockNode(mode: Mode) throws {
            try withWorkspace { workspace in
                let block = try workspace.loopDevice()
                let generic = try workspace.loopDevice()
                let mountPoint = try workspace.directory("mnt")
                let daemon = try workspace.startDaemon(
                    mountPoint: mountPoint, ["--no-discover", "--device", "sr0=\(block),sg=\(generic)"] + mode.options)
                let recorder = MountedRecorder(workspace: workspace, mountPoint: mountPoint, device: block, daemon: daemon)
                #expect(try recorder.cat("sg") == "\(generic)\n")
                for node in [block, generic] { #expect(try Self.flockProbe(node) == "OK") }

                let agent = try workspace.agent()
                let handle = try agent.hold(recorder.path("acquire"), "Burner")
                try expectHeld(recorder, by: "Burner", count: 1)
                for node in [block, generic] {
                    try Self.expectFlockHeld(node)
                    #expect(try probe(DriveTests.exclusiveOpen, node) == (mode == .exclusive ? "EBUSY" : "OK"), "\(node)")
                }
                #expect(try agent.close(handle) == .ok(0))
                try expectFree(recorder)
                for node in [block, generic] {
                    #expect(try probe(DriveTests.exclusiveOpenAndFlock, node) == "OK", "\(node) after the release")
                }
            }
        }

        @Test("a foreign flock on the sg stand-in: EBUSY at once, naming its holder; the block node is left unclaimed")
        func foreignFlockOnTheGenericNode() throws {
            try withWorkspace { workspace in
                let block = try workspace.loopDevice()
                let generic = try workspace.loopDevice()
                let mountPoint = try workspace.directory("mnt")
                let daemon = try workspace.startDaemon(mountPoint: mountPoint,
                                                       ["--no-discover", "--device", "sr0=\(block),sg=\(generic)"])
                let recorder = MountedRecorder(workspace: workspace, mountPoint: mountPoint, device: block, daemon: daemon)
                let outsider = try workspace.agent()
                let node = try outsider.openDescriptor(generic, .readOnly)
                #expect(try outsider.flock(node, .exclusive) == .ok(0))

                try DeadlineTests.expectBusyAtOnce(recorder.path("acquire"), "Burner")
                let named = poll(within: .seconds(5)) {
                    !daemon.logLines(containing: "refused",
                                     "the SCSI generic node \(generic): held outside recorderfs by pid \(outsider.pid) (python3)").isEmpty
                }
                #expect(named, "log: \(daemon.log)")
                try expectFree(recorder)
                #expect(try recorder.cat("state") == "free\n")
                #expect(try Self.flockProbe(block) == "OK", "the block node was let go")

                #expect(try outsider.close(node) == .ok(0))
                let agent = try workspace.agent()
                _ = try agent.hold(recorder.path("acquire"), "Burner")
                try expectHeld(recorder, by: "Burner", count: 1)
            }
        }

        @Test("--device NAME=PATH,sg=SGPATH: no device node, no SCSI generic node, another recorder's node, a shared one, and a --sysfs others can write: one sentence each")
        func genericNodeMustBeADevice() throws {
            try withWorkspace { workspace in
                let block = try workspace.loopDevice()
                let mountPoint = try workspace.directory("mnt")
                let file = "\(workspace.path)/plain"
                try run(["touch", file]).check()
                let plain = try run([MountEnvironment.binary, "mount", mountPoint, "--no-discover",
                                     "--device", "sr0=\(block),sg=\(file)"], within: .seconds(10))
                expectOneSentence(plain)
                #expect(plain.stderr == "recorderfs: cannot use \(file) as the SCSI generic node of sr0: it is not a device node.\n")
                let missing = try run([MountEnvironment.binary, "mount", mountPoint, "--no-discover",
                                       "--device", "sr0=\(block),sg=\(workspace.path)/none"], within: .seconds(10))
                expectOneSentence(missing)
                #expect(missing.stderr.contains("No such file or directory"), "\(missing)")
                // A character device that is no SCSI generic node, another recorder's node, a shared sg node.
                let other = try workspace.loopDevice()
                let third = try workspace.loopDevice()
                for (devices, message) in [
                    (["sr0=\(block),sg=/dev/null"], "cannot use /dev/null as the SCSI generic node of sr0: it is not a SCSI generic node (major 21)."),
                    (["sr0=\(block),sg=\(other)", "sr1=\(other)"], "cannot use \(other) as the SCSI generic node of sr0: it is the device of sr1."),
                    (["sr0=\(block),sg=\(third)", "sr1=\(other),sg=\(third)"], "cannot use \(third) as the SCSI generic node of sr1: it is the SCSI generic node of sr0 too."),
                ] {
                    let refused = try run([MountEnvironment.binary, "mount", mountPoint, "--no-discover"]
                                          + devices.flatMap { ["--device", $0] }, within: .seconds(10))
                    expectOneSentence(refused)
                    #expect(refused.stderr == "recorderfs: \(message)\n", "\(refused)")
                }
                // A --sysfs others can write to: the daemon would write there as root.
                let open = try workspace.directory("open-sysfs")
                chmod(open, 0o777)
                let careless = try run([MountEnvironment.binary, "mount", mountPoint, "--no-discover", "--device", "sr0=\(block)",
                                        "--sysfs", open], within: .seconds(10))
                expectOneSentence(careless)
                #expect(careless.stderr.contains("must be a directory of this user that no one else can write to"), "\(careless)")
                #expect(mounts(at: mountPoint).isEmpty)
            }
        }

        // MARK: Media polling

        @Test("events_poll_msecs (a test sysfs): 0 while locked; back after the release, a removal, a stop, and a SIGKILL and a new mount")
        func mediaPollingPausedWhileLocked() throws {
            try withWorkspace { workspace in
                let block = try workspace.loopDevice()
                let name = String(block.split(separator: "/").last!)
                let sysfs = try workspace.directory("sysfs")
                let device = "\(sysfs)/dev/block/\(try Self.numbers(block))"
                try FileManager.default.createDirectory(atPath: device, withIntermediateDirectories: true)
                let attribute = "\(device)/events_poll_msecs"
                try Data("2000\n".utf8).write(to: URL(fileURLWithPath: attribute))
                let record = "/run/recorderfs/polling/" + String(attribute.map { $0 == "/" ? "_" : $0 })
                let mountPoint = try workspace.directory("mnt")
                let arguments = ["--no-discover", "--device", "sr0=\(block)", "--sysfs", sysfs]
                var daemon = try workspace.startDaemon(mountPoint: mountPoint, arguments)
                var recorder = MountedRecorder(workspace: workspace, mountPoint: mountPoint, device: block, daemon: daemon)
                let agent = try workspace.agent()

                // Lock and release.
                var handle = try agent.hold(recorder.path("acquire"), "Burner")
                #expect(fileText(attribute) == "0\n")
                #expect(access(record, F_OK) == 0, "the interval is recorded at \(record)")
                #expect(try agent.write(handle, "Burner") == .ok(6))
                #expect(fileText(attribute) == "0\n", "a nest changes nothing")
                #expect(try agent.close(handle) == .ok(0))
                try expectFree(recorder)
                #expect(fileText(attribute) == "2000\n")
                #expect(access(record, F_OK) != 0, "no record once restored")

                // The device goes away while locked.
                handle = try agent.hold(recorder.path("acquire"), "Burner")
                #expect(fileText(attribute) == "0\n")
                let uevent = "/sys/block/\(name)/uevent"
                #expect(try probe("open(a[0], 'w').write(a[1])", uevent, "remove") == "OK")
                #expect(poll(within: .seconds(5)) { access(recorder.directory, F_OK) != 0 }, "sr0 did not go")
                #expect(fileText(attribute) == "2000\n", "restored at the removal")
                #expect(try agent.close(handle) == .ok(0))
                #expect(try probe("open(a[0], 'w').write(a[1])", uevent, "add") == "OK")
                #expect(poll(within: .seconds(5)) { access(recorder.path("owner"), F_OK) == 0 }, "sr0 did not come back")

                // The daemon stops while locked.
                handle = try agent.hold(recorder.path("acquire"), "Burner")
                #expect(fileText(attribute) == "0\n")
                #expect(daemon.stop() == 0, "log: \(daemon.log)")
                #expect(fileText(attribute) == "2000\n", "restored at the stop")
                _ = try agent.close(handle)

                // SIGKILLed while locked: the next mount restores it.
                daemon = try workspace.startDaemon(mountPoint: mountPoint, arguments)
                recorder = MountedRecorder(workspace: workspace, mountPoint: mountPoint, device: block, daemon: daemon)
                handle = try agent.hold(recorder.path("acquire"), "Burner")
                #expect(fileText(attribute) == "0\n")
                daemon.kill()
                #expect(fileText(attribute) == "0\n", "nobody restored it yet")
                #expect(access(record, F_OK) == 0)
                _ = try agent.close(handle)
                daemon = try workspace.startDaemon(mountPoint: mountPoint, arguments)
                #expect(fileText(attribute) == "2000\n", "restored by the next mount")
                #expect(access(record, F_OK) != 0)
                #expect(!daemon.logLines(containing: "media polling restored after a daemon that is gone", attribute).isEmpty,
                        "log: \(daemon.log)")

                // --no-quiet: never touched.
                #expect(daemon.stop() == 0)
                daemon = try workspace.startDaemon(mountPoint: mountPoint, arguments + ["--no-quiet"])
                recorder = MountedRecorder(workspace: workspace, mountPoint: mountPoint, device: block, daemon: daemon)
                handle = try agent.hold(recorder.path("acquire"), "Burner")
                #expect(fileText(attribute) == "2000\n", "--no-quiet pauses nothing")
                #expect(try agent.close(handle) == .ok(0))
            }
        }

        // MARK: Re-probe

        @Test("exactly one change uevent after each release to free, none on a lock, a nest or a refused write; a loop device's events_poll_msecs is left alone")
        func changeEventAfterEachRelease() throws {
            try withRecorder { recorder in
                let name = String(recorder.device.split(separator: "/").last!)
                let polling = "/sys/block/\(name)/events_poll_msecs"
                let interval = fileText(polling)
                let listener = try Child(["/usr/bin/python3", "-c", pythonScript("uevent_listener"), name],
                                         stdout: "\(recorder.workspace.path)/uevents.out",
                                         stderr: "\(recorder.workspace.path)/uevents.err")
                defer { listener.end() }
                #expect(poll(within: .seconds(10)) { listener.output.hasPrefix("ready\n") }, "\(listener.errors)")
                // A synthetic change with a UUID of our own marks a point in
                // the kernel's stream: what came before it has arrived.
                var marks = 0
                func eventsSinceLastMark() throws -> [Substring] {
                    let before = listener.output.split(separator: "\n")
                    marks += 1
                    let uuid = "00000000-0000-4000-8000-\(String(repeating: "0", count: 11))\(marks % 10)"
                    #expect(try probe("open(a[0], 'w').write(a[1])", "/sys/block/\(name)/uevent", "change \(uuid)") == "OK")
                    let marked = poll(within: .seconds(5)) { listener.output.contains("change \(uuid)\n") }
                    #expect(marked, "the mark \(uuid) did not arrive: \(listener.output)")
                    let lines = listener.output.split(separator: "\n")
                    let previous = before.lastIndex { $0.hasPrefix("change 00000000-0000-4000-8000-") } ?? 0
                    let end = lines.lastIndex(of: Substring("change \(uuid)")) ?? lines.count
                    return Array(lines[(previous + 1)..<end])
                }
                _ = try eventsSinceLastMark()

                let agent = try recorder.workspace.agent()
                let handle = try agent.hold(recorder.path("acquire"), "Burner")
                #expect(try agent.write(handle, "Burner") == .ok(6))
                #expect(try writeOnce(recorder.path("acquire"), "Other") == "EBUSY")
                #expect(fileText(polling) == interval, "a loop device refuses the attribute: nothing is written")
                #expect(try eventsSinceLastMark() == [], "no event while locked")
                #expect(try agent.close(handle) == .ok(0))
                try expectFree(recorder)
                #expect(try eventsSinceLastMark() == ["change 0"], "one change uevent after the release")
                #expect(try writeOnce(recorder.path("acquire"), "Once") == "OK 4")
                try expectFree(recorder)
                #expect(try eventsSinceLastMark() == ["change 0"], "one more after the next lock's close")
                #expect(fileText(polling) == interval)
            }
        }

        /// The daemon's thread named rfs-hotplug, and how many times it has
        /// slept so far (its voluntary context switches).
        func hotplugThread(of recorder: MountedRecorder) throws -> () throws -> Int {
            let pid = recorder.daemon.child.pid
            let tasks = try FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")
            let hotplug = try #require(tasks.first { fileText("/proc/\(pid)/task/\($0)/comm") == "rfs-hotplug\n" },
                                       "no thread of the daemon is named rfs-hotplug")
            return {
                let status = fileText("/proc/\(pid)/task/\(hotplug)/status")
                let line = status.split(separator: "\n").first { $0.hasPrefix("voluntary_ctxt_switches:") }
                return try #require(line.flatMap { Int($0.split(separator: "\t").last ?? "") }, "\(status)")
            }
        }

        @Test("the re-probes of the daemon's own releases never wake its hotplug thread: the kernel drops them")
        func reprobesNeverReachTheHotplugThread() throws {
            // With udev's events (a systemd-udevd runs) there is no filter:
            // the thread reads them, gathered.
            if try UdevDaemon.isRunning() {
                throw TestFailure("a systemd-udevd runs (not started by this test): the kernel's events cannot be tested")
            }
            try withRecorder { recorder in
                let sleeps = try hotplugThread(of: recorder)
                // The thread puts the filter in place when it starts, after
                // the mount: a first series is not counted.
                try run(["/usr/bin/python3", "-c", pythonScript("lock_cycles"), recorder.path("acquire")]).check()
                let before = try sleeps()
                try run(["/usr/bin/python3", "-c", pythonScript("lock_cycles"), recorder.path("acquire")]).check()
                try expectFree(recorder)
                // 1,000 releases, 1,000 change uevents; woken for them, the
                // thread slept twice per 10 ms of the series (8 to 14 times
                // here). Another device's uevent now and then may wake it.
                let slept = try sleeps() - before
                #expect(slept <= 4, "the hotplug thread slept \(slept) times during 1,000 cycles")
            }
        }

        @Test("a burst of other devices' change uevents wakes the hotplug thread once per 10 ms at most, not once each")
        func aBurstOfUeventsWakesTheHotplugThreadOnce() throws {
            try withRecorder { recorder in
                let sleeps = try hotplugThread(of: recorder)
                let other = try recorder.workspace.loopDevice()
                let uevent = "/sys/class/block/\(other.split(separator: "/").last!)/uevent"
                let before = try sleeps()
                let started = ContinuousClock.now
                try run(["/usr/bin/python3", "-c",
                         "import os, sys\nfd = os.open(sys.argv[1], os.O_WRONLY)\nfor i in range(1000): os.pwrite(fd, b'change', 0)",
                         uevent]).check()
                let elapsed = Int((ContinuousClock.now - started) / .milliseconds(1))
                // The thread sleeps twice per gathering of 10 ms (on the
                // socket, then on its stop pipe); woken for each uevent, it
                // slept about 1,000 times.
                let slept = try sleeps() - before
                #expect(slept <= 2 * (elapsed / 10 + 1) + 4, "the hotplug thread slept \(slept) times in \(elapsed) ms")
                #expect(slept >= 1, "the thread did not see the uevents at all")
            }
        }

        // MARK: The claim state

        @Test("state: free, then claiming since … and whom it waits for (also in status and the log), locked, free")
        func stateThroughAHeldUpClaim() throws {
            try withRecorder(["--timeout", "5"]) { recorder in
                #expect(try recorder.cat("state") == "free\n")
                let (blocker, node, claim) = try recorder.heldUpClaim("Burner")
                defer { claim.end() }
                let waitsFor = "flock held by pid \(blocker.pid) (python3)"
                var state = ""
                let named = try poll(within: .seconds(3)) {
                    state = try recorder.cat("state")
                    return state.hasSuffix(", waiting for \(waitsFor)\n")
                }
                #expect(named, "state: \(state.debugDescription)")
                let since = state.dropFirst("claiming since ".count).prefix { $0 != "," }
                #expect(state == "claiming since \(since), waiting for \(waitsFor)\n")
                #expect(since.count == 20 && since.hasSuffix("Z"), "\(since)")
                #expect(try recorder.cat("owner") == "", "nobody holds it yet")

                let table = try run([MountEnvironment.binary, "status", recorder.mountPoint]).check().stdout
                let lines = table.split(separator: "\n")
                #expect(lines.first?.split(separator: " ") == ["RECORDER", "DEVICE", "STATE", "OWNER", "LOCKS", "GEN", "DRIVE", "CAPABILITIES"],
                        "\(table)")
                #expect(lines.dropFirst().first?.split(separator: " ").prefix(4) == ["sr0", Substring(recorder.device), "claiming", "-"],
                        "\(table)")
                #expect(lines.contains("  claiming since \(since), waiting for \(waitsFor)"), "\(table)")
                let json = try run([MountEnvironment.binary, "status", recorder.mountPoint, "--json"]).check().stdout
                #expect(json.contains("\"claiming-since\":\"\(since)\""), "\(json)")
                #expect(json.contains("\"state\":\"claiming\""), "\(json)")
                #expect(json.contains("\"waiting-for\":\"\(waitsFor)\""), "\(json)")
                #expect(!recorder.daemon.logLines(containing: "the claim waits", waitsFor).isEmpty, "log: \(recorder.daemon.log)")

                #expect(try blocker.close(node) == .ok(0))
                #expect(claim.wait(within: .seconds(10)) == 0)
                #expect(DeadlineTests.timedOutcome(claim.output)?.0 == "OK", "\(claim.output)")
                try expectFree(recorder)
                #expect(try recorder.cat("state") == "free\n")
                let agent = try recorder.workspace.agent()
                let handle = try agent.hold(recorder.path("acquire"), "Burner")
                #expect(try recorder.cat("state") == "locked\n")
                let json2 = try run([MountEnvironment.binary, "status", recorder.mountPoint, "--json"]).check().stdout
                #expect(json2.contains("\"claiming-since\":null") && json2.contains("\"state\":\"locked\"")
                        && json2.contains("\"waiting-for\":null"), "\(json2)")
                #expect(try agent.close(handle) == .ok(0))
                #expect(try recorder.cat("state") == "free\n")
            }
        }

        // MARK: Sleep inhibitor

        /// A private bus (dbus-daemon) with python3-dbusmock's logind on it.
        final class MockLogind {
            let bus: Child
            let logind: Child
            let address: String

            init(in workspace: Workspace) throws {
                let bus = try Child(["dbus-daemon", "--session", "--nofork", "--print-address=1"],
                                    stdout: "\(workspace.path)/bus.out", stderr: "\(workspace.path)/bus.err")
                self.bus = bus
                var address = ""
                let listening = poll(within: .seconds(10)) {
                    address = bus.output.split(separator: "\n").first.map(String.init) ?? ""
                    return address.hasPrefix("unix:")
                }
                guard listening else {
                    bus.end()
                    throw TestFailure("dbus-daemon: \(bus.errors)")
                }
                self.address = address
                logind = try Child(["/usr/bin/env", "DBUS_SYSTEM_BUS_ADDRESS=\(address)", "/usr/bin/python3", "-m", "dbusmock",
                                    "--system", "--template", "logind"],
                                   stdout: "\(workspace.path)/logind.out", stderr: "\(workspace.path)/logind.err")
                guard poll(within: .seconds(10), { inhibitors() != nil }) else {
                    end()
                    throw TestFailure("dbusmock's logind did not answer: \(logind.errors)")
                }
            }

            /// What ListInhibitors answers, as dbus-send prints it; nil when it cannot.
            func inhibitors() -> String? {
                guard let finished = try? run(["dbus-send", "--bus=\(address)", "--print-reply", "--dest=org.freedesktop.login1",
                                               "/org/freedesktop/login1", "org.freedesktop.login1.Manager.ListInhibitors"]),
                      finished.status == 0 else { return nil }
                return finished.stdout
            }

            /// Whether the inhibitor of a lock of sr0 by `name` is there.
            func hasInhibitor(_ name: String) -> Bool {
                let listing = inhibitors() ?? ""
                return listing.contains("string \"sleep:shutdown\"") && listing.contains("string \"recorderfs\"")
                    && listing.contains("string \"sr0 locked by \(name)\"") && listing.contains("string \"block\"")
            }

            var hasAnyOfOurs: Bool { (inhibitors() ?? "").contains("string \"recorderfs\"") }

            func end() {
                logind.end()
                bus.end()
            }
        }

        @Test("--inhibit-sleep: a logind inhibitor exactly while locked (python3-dbusmock), gone after SIGKILL of the daemon")
        func sleepInhibitorWhileLocked() throws {
            try withWorkspace { workspace in
                let logind = try MockLogind(in: workspace)
                defer { logind.end() }
                let block = try workspace.loopDevice()
                let mountPoint = try workspace.directory("mnt")
                let arguments = ["--no-discover", "--device", "sr0=\(block)", "--inhibit-sleep", "--log-level", "info"]
                let environment = ["DBUS_SYSTEM_BUS_ADDRESS=\(logind.address)"]
                var daemon = try workspace.startDaemon(mountPoint: mountPoint, arguments, environment: environment)
                var recorder = MountedRecorder(workspace: workspace, mountPoint: mountPoint, device: block, daemon: daemon)
                #expect(!logind.hasAnyOfOurs)
                let agent = try workspace.agent()

                var handle = try agent.hold(recorder.path("acquire"), "Burner")
                #expect(poll(within: .seconds(5)) { logind.hasInhibitor("Burner") }, "\(logind.inhibitors() ?? "-"); log: \(daemon.log)")
                #expect(try agent.write(handle, "Burner") == .ok(6))
                #expect(try agent.close(handle) == .ok(0))
                #expect(poll(within: .seconds(5)) { !logind.hasAnyOfOurs }, "\(logind.inhibitors() ?? "-")")

                handle = try agent.hold(recorder.path("acquire"), "Archiver")
                #expect(poll(within: .seconds(5)) { logind.hasInhibitor("Archiver") }, "\(logind.inhibitors() ?? "-")")
                daemon.kill()
                #expect(poll(within: .seconds(5)) { !logind.hasAnyOfOurs }, "after SIGKILL: \(logind.inhibitors() ?? "-")")
                _ = try agent.close(handle)

                // No logind on the bus: one warning, and locking works.
                daemon = try workspace.startDaemon(mountPoint: mountPoint, arguments,
                                                   environment: ["DBUS_SYSTEM_BUS_ADDRESS=unix:path=\(workspace.path)/no-bus"])
                recorder = MountedRecorder(workspace: workspace, mountPoint: mountPoint, device: block, daemon: daemon)
                for name in ["First", "Second"] {
                    #expect(try writeOnce(recorder.path("acquire"), name) == "OK \(name.utf8.count)")
                }
                let warned = poll(within: .seconds(5)) {
                    daemon.logLines(containing: "sleep and shutdown are not held off while locked").count == 1
                }
                #expect(warned, "log: \(daemon.log)")
                #expect(daemon.stop() == 0)
                #expect(daemon.logLines(containing: "sleep and shutdown are not held off while locked").count == 1, "log: \(daemon.log)")
            }
        }
    }
}
