#if canImport(Glibc)
import Glibc
#endif
import Testing

extension Mounted {
    @Suite("The daemon")
    struct DaemonTests {
        @Test("SIGTERM unmounts cleanly and exits 0")
        func sigterm() throws {
            try withRecorder { recorder in
                #expect(recorder.daemon.stop() == 0, "log: \(recorder.daemon.log)")
                #expect(mounts(at: recorder.mountPoint).isEmpty)
                let flock = try probe(DriveTests.exclusiveOpenAndFlock, recorder.device)
                #expect(flock == "OK")
            }
        }

        @Test("SIGTERM while a lock is held frees the drive")
        func sigtermWhileLocked() throws {
            try withRecorder { recorder in
                let agent = try recorder.workspace.agent()
                _ = try agent.hold(recorder.path("acquire"), "Holder")
                #expect(try probe(DriveTests.exclusiveOpenAndFlock, recorder.device) == "EAGAIN")
                // The holder's open file would keep a plain unmount busy;
                // the daemon must still end.
                let status = recorder.daemon.stop()
                #expect(status == 0, "log: \(recorder.daemon.log)")
                #expect(try probe(DriveTests.exclusiveOpenAndFlock, recorder.device) == "OK")
            }
        }

        @Test("SIGTERM while an acquire_wait write waits and an events read blocks: both end ECONNABORTED, the daemon exits 0, nothing written into the freed session")
        func sigtermWithParkedRequests() throws {
            try withWorkspace { workspace in
                let device = try workspace.loopDevice()
                let mountPoint = try workspace.directory("mnt")
                // glibc fills freed memory and keeps no per-thread cache: a
                // parked request answered after libfuse's session was freed
                // then crashes the daemon at once (it did: SIGSEGV, 139).
                let daemon = try workspace.startDaemon(
                    mountPoint: mountPoint, MountedRecorder.arguments + ["--device", "sr0=\(device)"],
                    environment: ["GLIBC_TUNABLES=glibc.malloc.tcache_count=0", "MALLOC_PERTURB_=85"])
                let recorder = MountedRecorder(workspace: workspace, mountPoint: mountPoint, device: device, daemon: daemon)
                _ = try workspace.agent().hold(recorder.path("acquire"), "Holder")
                var ends: [Int32] = [0, 0]
                #expect(pipe(&ends) == 0)
                _ = fcntl(ends[1], F_SETFD, FD_CLOEXEC)
                let waiter = try Child(["/usr/bin/python3", "-c", EventsTests.waiter, recorder.path("acquire_wait"), "Waiter"],
                                       input: ends[0], stdout: "\(workspace.path)/waiter.out", stderr: "\(workspace.path)/waiter.err")
                close(ends[0])
                defer { close(ends[1]); waiter.end() }
                let reader = try Child(["/usr/bin/python3", "-c", EventsTests.eventReader, "\(mountPoint)/events"],
                                       stdout: "\(workspace.path)/events.out", stderr: "\(workspace.path)/events.err")
                defer { reader.end() }
                #expect(poll { waiter.output.hasPrefix("waiting\n") && EventsTests.inSyscall(waiter.pid, 1) }, "\(waiter.errors)")
                #expect(poll { reader.output.hasPrefix("open\n") && EventsTests.inSyscall(reader.pid, 0) }, "\(reader.errors)")

                let status = daemon.stop()
                #expect(status == 0, "log: \(daemon.log)")
                #expect(!daemon.log.contains("fuse:"), "log: \(daemon.log)")
                #expect(mounts(at: mountPoint).isEmpty)
                #expect(poll { waiter.output == "waiting\nECONNABORTED\n" }, "\(waiter.output)")
                #expect(poll { reader.errors.contains("ConnectionAbortedError") }, "\(reader.errors)")
                #expect(try probe(DriveTests.exclusiveOpenAndFlock, device) == "OK")
            }
        }

        @Test("SIGKILL of the daemon frees the drive; the next mount removes the stale one")
        func killedDaemon() throws {
            try withRecorder { recorder in
                let agent = try recorder.workspace.agent()
                _ = try agent.hold(recorder.path("acquire"), "Holder")
                recorder.daemon.kill()
                #expect(recorder.daemon.child.status == 128 + SIGKILL)

                // The flock and any O_EXCL went with the daemon's descriptors.
                #expect(try probe(DriveTests.exclusiveOpenAndFlock, recorder.device) == "OK")
                // (A stat may still be answered from the attribute cache.)
                #expect(try probe("os.listdir(a[0])", recorder.mountPoint) == "ENOTCONN")
                #expect(try probe("open(a[0]).read()", recorder.path("owner")) == "ENOTCONN")

                let stale = mounts(at: recorder.mountPoint)
                #expect(stale.map(\.type) == ["fuse.recorderfs"])
                let restarted = try recorder.workspace.startDaemon(
                    mountPoint: recorder.mountPoint, MountedRecorder.arguments + ["--device", "sr0=\(recorder.device)"])
                let now = mounts(at: recorder.mountPoint)
                #expect(now.count == 1 && !stale.map(\.id).contains(now[0].id), "mounts: \(now), stale: \(stale)")
                #expect(restarted.child.isRunning)
                try expectFree(recorder)
                let next = try recorder.workspace.agent()
                _ = try next.hold(recorder.path("acquire"), "After")
                try expectHeld(recorder, by: "After", count: 1)
            }
        }

        @Test("a refusal is logged once with recorder, pid, uid and reason; a bad name never raw")
        func refusalsLogged() throws {
            try withRecorder { recorder in
                let agent = try recorder.workspace.agent()
                _ = try agent.hold(recorder.path("acquire"), "Holder")

                let busy = try writeOnce(recorder.path("acquire"), Array("Other".utf8))
                #expect(busy.stdout == "EBUSY\n")
                #expect(poll(within: .seconds(5)) { !recorder.daemon.logLines(containing: "refused").isEmpty })
                let refusals = recorder.daemon.logLines(containing: "refused")
                #expect(refusals.count == 1, "log: \(recorder.daemon.log)")
                if let line = refusals.first {
                    for field in ["recorder=sr0", "uid=0", "pid=\(busy.pid)", "reason="] {
                        #expect(line.contains(field), "\(field) missing in: \(line)")
                    }
                }

                let evil: [UInt8] = Array("evil".utf8) + [0x1b] + Array("[31m".utf8)
                let invalid = try writeOnce(recorder.path("acquire"), evil)
                #expect(invalid.stdout == "EINVAL\n")
                #expect(poll(within: .seconds(5)) { recorder.daemon.logLines(containing: "refused").count >= 2 })
                let second = recorder.daemon.logLines(containing: "refused", "pid=\(invalid.pid)")
                #expect(second.count == 1, "log: \(recorder.daemon.log)")
                #expect(second.first?.contains("uid=0") == true)
                let log = fileBytes(recorder.daemon.logPath) ?? []
                #expect(!log.contains(0x1b), "an escape byte reached the log: \(recorder.daemon.log.debugDescription)")
            }
        }
    }
}
