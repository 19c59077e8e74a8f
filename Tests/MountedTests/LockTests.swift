#if canImport(Glibc)
import Glibc
#endif
import Testing

extension Mounted {
    @Suite("Locks through the files")
    struct LockTests {
        @Test("the README session prints MyApp, 1, 0")
        func readmeSession() throws {
            try withRecorder { recorder in
                let directory = recorder.directory
                let session = try sh("""
                    exec 3>\(directory)/acquire; echo MyApp >&3; cat \(directory)/owner; cat \(directory)/lockcount; \
                    exec 3>&-; cat \(directory)/lockcount
                    """)
                #expect(session.status == 0, "\(session)")
                #expect(session.stdout == "MyApp\n1\n0\n", "\(session)")
                #expect(session.stderr == "", "\(session)")
                try expectFree(recorder)
            }
        }

        @Test("a bad name is refused with EINVAL and changes nothing; 63 bytes are accepted")
        func names() throws {
            try withRecorder { recorder in
                let agent = try recorder.workspace.agent()
                let handle = try agent.openDescriptor(recorder.path("acquire"))
                // The kernel answers a write of 0 bytes itself (0, nothing
                // written) without asking the filesystem: nothing changes.
                #expect(try agent.write(handle, []) == .ok(0))
                try expectFree(recorder)
                let refused: [(String, [UInt8])] = [
                    ("only a newline", Array("\n".utf8)),
                    ("64 bytes", Array(repeating: UInt8(ascii: "A"), count: 64)),
                    ("a NUL", Array("A\u{0}B".utf8)),
                    ("two lines", Array("A\nB\n".utf8)),
                    ("invalid UTF-8", [0xff]),
                    ("a slash", Array("A/B".utf8)),
                    ("two trailing newlines", Array("A\n\n".utf8)),
                ]
                for (what, bytes) in refused {
                    #expect(try agent.write(handle, bytes) == .failed("EINVAL"), "\(what)")
                    // Read while the handle is still open: a lock taken by
                    // mistake would show.
                    #expect(try recorder.cat("lockcount") == "0\n", "after \(what)")
                    #expect(try recorder.cat("owner") == "", "after \(what)")
                }
                let longest = String(repeating: "Az09 .,:;-_", count: 6).prefix(63)
                #expect(try agent.write(handle, longest + "\n") == .ok(64))
                try expectHeld(recorder, by: String(longest), count: 1)
                #expect(try agent.close(handle) == .ok(0))
                try expectFree(recorder)
            }
        }

        @Test("locks of one name nest through one handle; another handle or name is refused; release drops one; closing drops all")
        func nesting() throws {
            try withRecorder { recorder in
                let agent = try recorder.workspace.agent()
                let first = try agent.hold(recorder.path("acquire"), "MyApp")
                #expect(try agent.write(first, "MyApp\n") == .ok(6))
                try expectHeld(recorder, by: "MyApp", count: 2)

                // One handle, one holder: another handle of the same process
                // and name is refused.
                let second = try agent.openDescriptor(recorder.path("acquire"))
                #expect(try agent.write(second, "MyApp\n") == .failed("EBUSY"))
                try expectHeld(recorder, by: "MyApp", count: 2)

                #expect(try writeOnce(recorder.path("acquire"), "Other") == "EBUSY")
                #expect(try writeOnce(recorder.path("acquire_force"), "Other") == "EBUSY")
                try expectHeld(recorder, by: "MyApp", count: 2)

                let released = try sh("echo MyApp > \(recorder.path("release"))")
                #expect(released.status == 0, "\(released)")
                try expectHeld(recorder, by: "MyApp", count: 1)

                #expect(try writeOnce(recorder.path("release"), "Nobody") == "ENOLCK")
                let unknown = try sh("echo Nobody > \(recorder.path("release"))")
                #expect(unknown.status != 0 && !unknown.stderr.isEmpty, "\(unknown)")
                try expectHeld(recorder, by: "MyApp", count: 1)

                #expect(try agent.close(second) == .ok(0))
                try expectHeld(recorder, by: "MyApp", count: 1)
                #expect(try agent.close(first) == .ok(0))
                try expectFree(recorder)
                #expect(try writeOnce(recorder.path("release"), "MyApp") == "ENOLCK")
            }
        }

        @Test("a handle that released its lock by `release` may lock again")
        func handleLocksAgainAfterRelease() throws {
            try withRecorder { recorder in
                let agent = try recorder.workspace.agent()
                let handle = try agent.hold(recorder.path("acquire"), "MyApp")
                #expect(try writeOnce(recorder.path("release"), "MyApp") == "OK 5")
                try expectFree(recorder)
                #expect(try agent.write(handle, "Again") == .ok(5))
                try expectHeld(recorder, by: "Again", count: 1)
                #expect(try agent.close(handle) == .ok(0))
                try expectFree(recorder)
            }
        }

        @Test("`echo A > acquire; echo B > acquire` succeeds every time (the close window)")
        func closeWindow() throws {
            try withRecorder { recorder in
                let acquire = recorder.path("acquire")
                let loop = try sh("""
                    for i in $(seq 1 300); do echo A > \(acquire) || exit 1; echo B > \(acquire) || exit 1; done
                    """, within: .seconds(60))
                #expect(loop.status == 0, "\(loop)")
                try expectFree(recorder)
            }
        }

        @Test("a dup()ed descriptor keeps the handle's lock until the last one is closed")
        func dupKeepsLock() throws {
            try withRecorder { recorder in
                let agent = try recorder.workspace.agent()
                let original = try agent.hold(recorder.path("acquire"), "Dup")
                guard case .ok(let duplicate) = try agent.dup(original) else {
                    throw TestFailure("dup failed")
                }
                #expect(try agent.close(original) == .ok(0))
                try expectHeld(recorder, by: "Dup", count: 1)
                #expect(try agent.close(duplicate) == .ok(0))
                try expectFree(recorder)
            }
        }

        @Test("a fork()ed child keeps the handle's lock until it exits")
        func forkKeepsLock() throws {
            try withRecorder { recorder in
                let agent = try recorder.workspace.agent()
                let handle = try agent.hold(recorder.path("acquire"), "Forked")
                guard case .ok(let child) = try agent.fork() else {
                    throw TestFailure("fork failed")
                }
                #expect(try agent.close(handle) == .ok(0))
                try expectHeld(recorder, by: "Forked", count: 1)
                // The child still holds it: nobody else gets it.
                #expect(try writeOnce(recorder.path("acquire"), "Other") == "EBUSY")
                #expect(try agent.endChild(child) == .ok(0))
                try expectFree(recorder)
            }
        }

        @Test("SIGKILL of a holder drops its lock at once")
        func killedHolder() throws {
            try withRecorder { recorder in
                let holder = try recorder.workspace.agent()
                // The reply to the write is the holder's "ready" line.
                _ = try holder.hold(recorder.path("acquire"), "Holder")
                try expectHeld(recorder, by: "Holder", count: 1)
                holder.child.signal(SIGKILL)
                #expect(holder.child.wait(within: .seconds(10)) == 128 + SIGKILL)
                #expect(try recorder.cat("lockcount") == "0\n")
                #expect(try recorder.cat("owner") == "")
                let next = try recorder.workspace.agent()
                _ = try next.hold(recorder.path("acquire"), "Next")
                try expectHeld(recorder, by: "Next", count: 1)
            }
        }
    }
}
