import Testing

extension Mounted {
    @Suite("The drive: volumes and claims")
    struct DriveTests {
        /// Opens the node as burners do (O_EXCL), then tries systemd's flock.
        static let exclusiveOpen = "fd = os.open(a[0], os.O_RDONLY | os.O_NONBLOCK | os.O_EXCL)"
        static let exclusiveOpenAndFlock = exclusiveOpen + "; fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)"

        @Test("a node that leads to another device by now: acquire fails with ENODEV and that device is left alone",
              arguments: [[], ["--exclusive"]])
        func replacedNode(_ options: [String]) throws {
            try withWorkspace { workspace in
                let (first, second) = (try workspace.loopDevice(), try workspace.loopDevice())
                let node = workspace.path + "/node"
                func makeNode(_ device: String) throws {
                    #expect(try probe("os.mknod(a[0], 0o060600, os.stat(a[1]).st_rdev)", node, device) == "OK")  // S_IFBLK
                }
                try makeNode(first)
                let mountPoint = try workspace.directory("mnt")
                _ = try workspace.startDaemon(mountPoint: mountPoint, ["--no-discover", "--device", "sr0=\(node)"] + options)
                let acquire = "\(mountPoint)/sr0/acquire"
                #expect(try writeOnce(acquire, "A") == "OK 1")
                // Another device under the same name: the daemon must not
                // open it. While a burner holds it with O_EXCL, an open
                // attempt of the claim's probe would say EBUSY; the check
                // before the open says ENODEV.
                #expect(try probe("os.unlink(a[0])", node) == "OK")
                try makeNode(second)
                let burner = try workspace.agent()
                let held = try burner.openDescriptor(second, .exclusive)
                #expect(try writeOnce(acquire, "A") == "ENODEV")
                #expect(fileText("\(mountPoint)/sr0/lockcount") == "0\n")
                #expect(try burner.close(held) == .ok(0))
                #expect(try writeOnce(acquire, "A") == "ENODEV")
                #expect(try probe(Self.exclusiveOpenAndFlock, second) == "OK", "the other device is held")
            }
        }

        @Test("acquire refuses a mounted volume (EBUSY); acquire_force dismounts it and locks")
        func mountedVolume() throws {
            try withRecorder(volume: true) { recorder in
                let volume = try recorder.workspace.directory("volume")
                try run(["mount", recorder.device, volume]).check()
                #expect(mounts(at: volume).count == 1)

                // dash says "I/O error" for any failed write: the errno is python's to show.
                let echo = try sh("echo A > \(recorder.path("acquire"))")
                #expect(echo.status != 0 && !echo.stderr.isEmpty, "\(echo)")
                #expect(try writeOnce(recorder.path("acquire"), "A") == "EBUSY")
                try expectFree(recorder)
                #expect(mounts(at: volume).count == 1, "acquire must not touch the volume")

                let agent = try recorder.workspace.agent()
                _ = try agent.hold(recorder.path("acquire_force"), "A")
                #expect(mounts(at: volume).isEmpty, "the volume is still mounted")
                try expectHeld(recorder, by: "A", count: 1)
            }
        }

        @Test("--exclusive: while locked, mount(8) and O_EXCL openers are refused by the kernel")
        func exclusiveClaim() throws {
            try withRecorder(["--exclusive"], volume: true) { recorder in
                let volume = try recorder.workspace.directory("volume")
                let agent = try recorder.workspace.agent()
                let handle = try agent.hold(recorder.path("acquire"), "Burner")

                let refused = try run(["mount", recorder.device, volume])
                #expect(refused.status != 0, "\(refused)")
                #expect(mounts(at: volume).isEmpty)
                #expect(try probe(Self.exclusiveOpen, recorder.device) == "EBUSY")

                // The claim ends with the lock.
                #expect(try agent.close(handle) == .ok(0))
                try expectFree(recorder)
                #expect(try probe(Self.exclusiveOpenAndFlock, recorder.device) == "OK")
                try run(["mount", recorder.device, volume]).check()
                try run(["umount", volume]).check()
            }
        }

        @Test("advisory claim: while locked, O_EXCL opens and mount(8) work, systemd's flock is held")
        func advisoryClaim() throws {
            try withRecorder(volume: true) { recorder in
                let volume = try recorder.workspace.directory("volume")
                #expect(try probe(Self.exclusiveOpenAndFlock, recorder.device) == "OK")
                let agent = try recorder.workspace.agent()
                let handle = try agent.hold(recorder.path("acquire"), "Burner")

                #expect(try probe(Self.exclusiveOpen, recorder.device) == "OK")
                let flock = try probe(Self.exclusiveOpenAndFlock, recorder.device)
                #expect(flock == "EAGAIN" || flock == "EWOULDBLOCK", "flock LOCK_EX|LOCK_NB: \(flock)")

                let mounted = try run(["mount", recorder.device, volume])
                #expect(mounted.status == 0, "\(mounted)")
                #expect(mounts(at: volume).count == 1)
                try expectHeld(recorder, by: "Burner", count: 1)
                if mounted.status == 0 { try run(["umount", volume]).check() }

                #expect(try agent.close(handle) == .ok(0))
                try expectFree(recorder)
                #expect(try probe(Self.exclusiveOpenAndFlock, recorder.device) == "OK")
            }
        }

        @Test("someone outside holding the drive with O_EXCL makes acquire fail with EBUSY")
        func outsideExclusiveHolder() throws {
            try withRecorder { recorder in
                let outsider = try recorder.workspace.agent()
                let exclusive = try outsider.openDescriptor(recorder.device, .exclusive)
                #expect(try writeOnce(recorder.path("acquire"), "A") == "EBUSY")
                try expectFree(recorder)
                #expect(try outsider.close(exclusive) == .ok(0))
                // A plain open does not claim the drive.
                let plain = try outsider.openDescriptor(recorder.device, .readOnly)
                #expect(try writeOnce(recorder.path("acquire"), "A") == "OK 1")
                #expect(try outsider.close(plain) == .ok(0))
                try expectFree(recorder)
            }
        }
    }
}
