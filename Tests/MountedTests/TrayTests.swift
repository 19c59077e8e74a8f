import Testing

extension Mounted {
    /// `eject` and `closetray`: the lock's owner may, others get EBUSY; a
    /// loop device has no tray (EOPNOTSUPP).
    @Suite("Tray")
    struct TrayTests {
        @Test("eject and closetray on a loop device (no tray) answer EOPNOTSUPP")
        func trayOnLoopDevice() throws {
            try withRecorder { recorder in
                // EOPNOTSUPP and ENOTSUP are one number on Linux; python names it ENOTSUP.
                #expect(try writeOnce(recorder.path("eject"), "x") == "ENOTSUP")
                #expect(try writeOnce(recorder.path("closetray"), "x") == "ENOTSUP")
                #expect(try probe("os.open(a[0], os.O_RDONLY)", recorder.path("eject")) == "EACCES")
                try expectFree(recorder)
            }
        }
        @Test("eject and closetray during another uid's claim: EBUSY at once (they waited for the claim and then ran under its lock)")
        func trayDuringAnotherClaim() throws {
            try withRecorder(["--allow-other", "--timeout", "3"]) { recorder in
                let nobody = asNobody(group: try diskGroup())
                // Another program's shared flock on the node: root's claim waits.
                let (blocker, node, claim) = try recorder.heldUpClaim("Burner")
                defer { claim.end() }
                #expect(poll { ReliabilityTests.isWriting(claim.pid) || !claim.isRunning }, "\(claim.output) \(claim.errors)")
                for file in ["eject", "closetray"] {
                    #expect(try writeOnce(recorder.path(file), "x", user: nobody) == "EBUSY", "\(file) by uid 65534 during root's claim")
                }
                #expect(claim.isRunning, "the claim is still under way: \(claim.output)")
                #expect(try blocker.flock(node, .unlock) == .ok(0))
                #expect(claim.wait(within: .seconds(10)) == 0)
                // The claim went through once the flock was gone (the writer
                // then exited, and its lock went with it).
                #expect(DeadlineTests.timedOutcome(claim.output)?.0 == "OK", "\(claim.output)")
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
    }
}
