#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing

extension Mounted {
    /// Issue B: recorders that come and go while mounted, followed through
    /// the kernel's uevents (no systemd-udevd) and through udev's.
    @Suite("Hotplug")
    struct HotplugTests {
        /// Where the daemon gets its events: it checks /run/udev/control at mount.
        enum Source: String, CustomTestStringConvertible, Sendable {
            case kernel, udev

            var testDescription: String {
                self == .udev ? "with systemd-udevd (udev events)" : "without systemd-udevd (kernel events)"
            }
        }

        /// The loop devices the tests create: their names match the mount's
        /// --match pattern, and nothing else on the machine uses them.
        static let numbers = 240...249
        static let pattern = "loop24[0-9]"

        /// How soon a recorder that comes or goes shows in the tree.
        static let announced: Duration = .seconds(1)

        @Test("a loop device created while mounted appears, goes with LOOP_CTL_REMOVE, and comes back fresh; by-id stays empty",
              arguments: [Source.kernel, .udev])
        func appearDisappearReappear(source: Source) throws {
            try withHotplug(source) { tree in
                let recorder = tree.recorder
                #expect(try tree.lookup() == "ENOENT", "\(recorder.directory) exists before the device does")

                #expect(try tree.loop.add() == "OK")
                try tree.expectListed(true, "after LOOP_CTL_ADD")
                #expect(try run(["ls", tree.mountPoint]).check().stdout == tree.listing(with: true))
                #expect(try recorder.cat("device") == "\(tree.loop.node)\n")
                try expectFree(recorder)
                let base = try recorder.generationValue()
                #expect(try recorder.cat("holders") == "")
                // A loop device has neither ID_SERIAL nor ID_PATH.
                #expect(try run(["stat", "-c", "%F", "\(tree.mountPoint)/by-id"]).check().stdout == "directory\n")
                #expect(try run(["ls", "-A", "\(tree.mountPoint)/by-id"]).check().stdout == "")

                // Lock it once, so that a fresh recorder is told apart by its generation.
                #expect(try writeOnce(recorder.path("acquire"), "Prober") == "OK 6")
                #expect(try recorder.generationValue() == base + 1)
                try expectFree(recorder)

                #expect(try tree.loop.removeWhileBusy() == "OK")
                try tree.expectListed(false, "after LOOP_CTL_REMOVE")
                #expect(try run(["ls", tree.mountPoint]).check().stdout == tree.listing(with: false))
                #expect(try probe("open(a[0]).read()", recorder.path("owner")) == "ENOENT")

                #expect(try tree.loop.add() == "OK")
                try tree.expectListed(true, "after LOOP_CTL_ADD again")
                #expect(try run(["ls", tree.mountPoint]).check().stdout == tree.listing(with: true))
                try expectFree(recorder)
                #expect(try recorder.generationValue() > base + 1, "the device came back: a fresh recorder, above every generation before")
                #expect(try recorder.cat("device") == "\(tree.loop.node)\n")
                #expect(try run(["ls", "-A", "\(tree.mountPoint)/by-id"]).check().stdout == "")
            }
        }

        @Test("removed while locked: the directory goes, old handles fail with ENODEV, the claim is dropped; back fresh and free",
              arguments: [Source.kernel, .udev])
        func removedWhileLocked(source: Source) throws {
            try withHotplug(source) { tree in
                let recorder = tree.recorder
                #expect(try tree.loop.add() == "OK")
                try tree.expectListed(true, "after LOOP_CTL_ADD")
                // An attached loop device, so that the kernel refuses LOOP_CTL_REMOVE:
                // only a uevent takes it out of the tree.
                let image = "\(tree.workspace.path)/hotplug.img"
                try run(["truncate", "-s", "16M", image]).check()
                try run(["losetup", tree.loop.node, image]).check()

                let agent = try tree.workspace.agent()
                let acquire = try agent.hold(recorder.path("acquire"), "Burner")
                try expectHeld(recorder, by: "Burner", count: 1)
                let owner = try agent.openDescriptor(recorder.path("owner"), .readOnly)
                #expect(try agent.read(owner) == .ok(7), "owner reads Burner\\n")
                // Open, no lock: it must never reach the recorder that comes back.
                let stale = try agent.openDescriptor(recorder.path("acquire"))
                let staleCount = try agent.openDescriptor(recorder.path("lockcount"), .readOnly)
                let holders = try agent.openDescriptor(recorder.path("holders"), .readOnly)
                let release = try agent.openDescriptor(recorder.path("release"))
                let eject = try agent.openDescriptor(recorder.path("eject"))
                let claimed = try probe(DriveTests.exclusiveOpenAndFlock, tree.loop.node)
                #expect(claimed == "EAGAIN" || claimed == "EWOULDBLOCK", "the daemon holds no claim: \(claimed)")

                try tree.loop.send("remove")
                try tree.expectListed(false, "after a remove uevent")
                #expect(try run(["ls", tree.mountPoint]).check().stdout == tree.listing(with: false))
                #expect(try agent.write(acquire, "Burner") == .failed("ENODEV"))
                #expect(try agent.read(owner) == .failed("ENODEV"))
                #expect(try agent.write(stale, "Burner") == .failed("ENODEV"))
                #expect(try agent.read(holders) == .failed("ENODEV"))
                #expect(try agent.write(release, "Burner") == .failed("ENODEV"))
                #expect(try agent.write(eject, "x") == .failed("ENODEV"))
                for descriptor in [acquire, owner, holders, release, eject] {
                    #expect(try agent.close(descriptor) == .ok(0))
                }
                // The claim is gone (udev may be probing the device for a moment).
                var outcome = ""
                let free = try poll(within: .seconds(5)) {
                    outcome = try probe(DriveTests.exclusiveOpenAndFlock, tree.loop.node)
                    return outcome == "OK"
                }
                #expect(free, "O_EXCL open and flock LOCK_EX|LOCK_NB of \(tree.loop.node): \(outcome)")

                try tree.loop.send("add")
                try tree.expectListed(true, "after an add uevent")
                #expect(try run(["ls", tree.mountPoint]).check().stdout == tree.listing(with: true))
                try expectFree(recorder)
                let base = try recorder.generationValue()
                #expect(try recorder.cat("holders") == "")
                #expect(try run(["ls", "-A", "\(tree.mountPoint)/by-id"]).check().stdout == "")
                // Handles of the removed recorder stay dead.
                #expect(try agent.write(stale, "Burner") == .failed("ENODEV"))
                #expect(try agent.read(staleCount) == .failed("ENODEV"))
                try expectFree(recorder)

                let again = try agent.hold(recorder.path("acquire"), "Again")
                try expectHeld(recorder, by: "Again", count: 1)
                #expect(try recorder.generationValue() == base + 1)
                #expect(try agent.close(again) == .ok(0))
                try expectFree(recorder)
                #expect(try agent.close(stale) == .ok(0))
                #expect(try agent.close(staleCount) == .ok(0))
            }
        }
    }
}

// MARK: Fixture

extension Mounted.HotplugTests {
    /// A tree mounted with `--match loop24[0-9]`, and a loop device number of
    /// that range that no device uses yet.
    struct Tree {
        let workspace: Workspace
        let mountPoint: String
        let daemon: RecorderDaemon
        let loop: HotplugLoop
        /// What the tree showed at mount besides by-id (loop devices of the
        /// range that someone else made).
        let others: [String]

        var recorder: MountedRecorder {
            MountedRecorder(workspace: workspace, mountPoint: mountPoint, device: loop.node, daemon: daemon, name: loop.name)
        }

        /// `ls MOUNTPOINT` with or without our device.
        func listing(with device: Bool) -> String {
            (others + (device ? [loop.name] : []) + ["by-id"]).sorted().map { $0 + "\n" }.joined()
        }

        /// stat(2) of the recorder's directory, from another process: "OK" or the errno name.
        func lookup() throws -> String {
            try probe("os.stat(a[0])", recorder.directory)
        }

        /// Polls until `ls` and a lookup agree that the device is there (or
        /// not); fails the test unless that happens within a second.
        func expectListed(_ listed: Bool, _ when: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
            var seen = ""
            let done = try poll(within: Mounted.HotplugTests.announced) {
                seen = try run(["ls", mountPoint]).check().stdout
                guard seen.split(separator: "\n").contains(Substring(loop.name)) == listed else { return false }
                return try lookup() == (listed ? "OK" : "ENOENT")
            }
            if !done {
                throw TestFailure("\(when): \(loop.name) \(listed ? "did not appear" : "did not go") within \(Mounted.HotplugTests.announced) (ls: \(seen.debugDescription), lookup: \(try lookup())); log: \(daemon.log.suffix(3000))")
            }
        }
    }

    /// Mounts a tree following `source`'s events (starting systemd-udevd for
    /// .udev, after which the daemon starts), runs `body`, and undoes
    /// everything: the daemon, the loop device, systemd-udevd and what it
    /// left in /run/udev.
    func withHotplug(_ source: Source, _ body: (Tree) throws -> Void) throws {
        let workspace = try Workspace()
        var udevd: UdevDaemon?
        var loop: HotplugLoop?
        defer {
            workspace.tearDown()
            loop?.destroy()
            udevd?.stop()
        }
        switch source {
        case .kernel:
            guard try !UdevDaemon.isRunning() else {
                throw TestFailure("a systemd-udevd runs (not started by this test): the kernel's events cannot be tested")
            }
        case .udev:
            // One that runs already (not ours) serves too, and is left running.
            if try !UdevDaemon.isRunning() { udevd = try UdevDaemon(logIn: workspace.path) }
        }
        loop = try HotplugLoop.unused(in: Self.numbers)
        let mountPoint = try workspace.directory("mnt")
        let daemon = try workspace.startDaemon(mountPoint: mountPoint, ["--no-discover", "--match", Self.pattern, "--debug"])
        #expect(!daemon.logLines(containing: "following hotplug events", "source=\(source.rawValue)").isEmpty,
                "the daemon does not follow \(source.rawValue) events; log: \(daemon.log.prefix(3000))")
        let others = try run(["ls", mountPoint]).check().stdout.split(separator: "\n").map(String.init).filter { $0 != "by-id" }
        try body(Tree(workspace: workspace, mountPoint: mountPoint, daemon: daemon, loop: loop!, others: others))
    }
}

/// /dev/loopN, created and removed through /dev/loop-control (LOOP_CTL_ADD,
/// LOOP_CTL_REMOVE): the kernel sends real add and remove uevents.
struct HotplugLoop {
    let number: Int

    var name: String { "loop\(number)" }
    var node: String { "/dev/\(name)" }
    var exists: Bool { access("/sys/block/\(name)", F_OK) == 0 }

    /// The first number in `range` with no loop device.
    static func unused(in range: ClosedRange<Int>) throws -> HotplugLoop {
        guard let number = range.first(where: { !HotplugLoop(number: $0).exists }) else {
            throw TestFailure("every loop device of \(range) exists already")
        }
        return HotplugLoop(number: number)
    }

    private func control(_ request: String) throws -> String {
        try probe("fcntl.ioctl(os.open('/dev/loop-control', os.O_RDWR | os.O_CLOEXEC), int(a[0], 0), int(a[1]))",
                  request, "\(number)")
    }

    /// LOOP_CTL_ADD: "OK" or the errno name.
    func add() throws -> String {
        try control("0x4C80")
    }

    /// LOOP_CTL_REMOVE: "OK" or the errno name.
    func remove() throws -> String {
        try control("0x4C81")
    }

    /// LOOP_CTL_REMOVE, again while the device is busy (udev opens it for a
    /// moment while it processes an event), for at most 5 s.
    func removeWhileBusy() throws -> String {
        var outcome = ""
        _ = try poll(within: .seconds(5)) {
            outcome = try remove()
            return outcome != "EBUSY"
        }
        return outcome
    }

    /// Makes the kernel send the uevent `action` (add, remove) for the
    /// device, which stays as it is.
    func send(_ action: String) throws {
        let written = try probe("open(a[0], 'w').write(a[1])", "/sys/block/\(name)/uevent", action)
        guard written == "OK" else { throw TestFailure("\(action) > /sys/block/\(name)/uevent: \(written)") }
    }

    /// Detaches and removes the device, whatever state a test left it in.
    func destroy() {
        guard exists else { return }
        _ = try? run(["losetup", "-d", node])
        let removed = poll(within: .seconds(10)) { (try? remove()) == "OK" || !exists }
        if !removed { Issue.record("cannot remove \(node) (LOOP_CTL_REMOVE: \((try? remove()) ?? "?"))") }
    }
}

/// A systemd-udevd started by a test, in the foreground as its child.
final class UdevDaemon {
    static let control = "/run/udev/control"
    let child: Child
    /// Whether /run/udev was there before: if not, it goes again at the end.
    private let hadRunDirectory: Bool

    /// Whether a systemd-udevd listens on /run/udev/control. One that exited
    /// leaves the socket behind, and then nobody answers on it.
    static func isRunning() throws -> Bool {
        try probe("import socket; socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET).connect(a[0])", control) == "OK"
    }

    /// Starts systemd-udevd and waits until it listens.
    init(logIn directory: String) throws {
        hadRunDirectory = access("/run/udev", F_OK) == 0
        child = try Child(["/lib/systemd/systemd-udevd"], stdout: "\(directory)/udevd.out", stderr: "\(directory)/udevd.log")
        let listening = try poll(within: .seconds(10)) { try Self.isRunning() || !child.isRunning }
        guard listening, child.isRunning else {
            let log = child.errors
            stop()
            throw TestFailure("systemd-udevd did not start (running: \(child.isRunning)); log: \(log)")
        }
    }

    /// `udevadm control --exit`, then waits until it and its workers are
    /// gone, and removes what it leaves: the control socket (so that a
    /// daemon started later follows the kernel's events again) and, if it
    /// made it, /run/udev with its database.
    func stop() {
        if child.isRunning {
            let exit = try? run(["udevadm", "control", "--exit"])
            if exit?.status != 0 { Issue.record("udevadm control --exit: \(exit?.description ?? "did not run")") }
            if child.wait(within: .seconds(10)) == nil {
                Issue.record("systemd-udevd did not exit within 10 s of `udevadm control --exit`")
            }
        }
        child.end()
        // Its workers are in its process group.
        if !poll(within: .seconds(5), { kill(-child.pid, 0) != 0 }) {
            _ = kill(-child.pid, SIGKILL)
        }
        let running = (try? Self.isRunning()) ?? false
        if !running && access(Self.control, F_OK) == 0 {
            unlink(Self.control)
        }
        if !running && !hadRunDirectory {
            try? FileManager.default.removeItem(atPath: "/run/udev")
        }
        if !poll(within: .seconds(5), { access(Self.control, F_OK) != 0 }) {
            Issue.record("\(Self.control) is still there after systemd-udevd exited")
        }
    }
}
