import Testing

extension Mounted {
    @Suite("Other users and containers")
    struct AccessTests {
        @Test("another uid: EPERM on release, EBUSY on the same name; root may release its lock")
        func anotherUser() throws {
            try withRecorder(["--allow-other"]) { recorder in
                let disk = try diskGroup()
                let nobody = asNobody(group: disk)
                let root = try recorder.workspace.agent()
                let rootHandle = try root.hold(recorder.path("acquire"), "Root")

                let stranger = try recorder.workspace.agent(user: nobody)
                #expect(try run(nobody + ["cat", recorder.path("owner")]).check().stdout == "Root\n")
                let release = try stranger.openDescriptor(recorder.path("release"))
                #expect(try stranger.write(release, "Root") == .failed("EPERM"))
                let acquire = try stranger.openDescriptor(recorder.path("acquire"))
                #expect(try stranger.write(acquire, "Root") == .failed("EBUSY"))
                #expect(try stranger.write(acquire, "Nobody") == .failed("EBUSY"))
                try expectHeld(recorder, by: "Root", count: 1)

                #expect(try root.close(rootHandle) == .ok(0))
                try expectFree(recorder)
                #expect(try stranger.write(acquire, "Nobody") == .ok(6))
                try expectHeld(recorder, by: "Nobody", count: 1)
                #expect(try run(nobody + ["cat", recorder.path("owner")]).check().stdout == "Nobody\n")
                // Root gets no exception for acquire, but may release.
                #expect(try writeOnce(recorder.path("acquire"), "Nobody") == "EBUSY")
                let released = try sh("echo Nobody > \(recorder.path("release"))")
                #expect(released.status == 0, "\(released)")
                try expectFree(recorder)
                // The stranger's handle stays open and usable.
                #expect(try stranger.write(acquire, "Nobody") == .ok(6))
                #expect(try stranger.write(release, "Nobody") == .ok(6))
                try expectFree(recorder)
            }
        }

        @Test("a uid outside the device node's group cannot open the control files (EACCES) but can read")
        func outsideTheGroup() throws {
            try withRecorder(["--allow-other"]) { recorder in
                let outsider = asNobody(group: 65534)
                #expect(try writeOnce(recorder.path("acquire"), "Nobody", user: outsider) == "open EACCES")
                #expect(try writeOnce(recorder.path("release"), "Nobody", user: outsider) == "open EACCES")
                #expect(try run(outsider + ["cat", recorder.path("lockcount")]).check().stdout == "0\n")
                try expectFree(recorder)
            }
        }

        @Test("without --allow-other, other users cannot use the tree")
        func withoutAllowOther() throws {
            try withRecorder { recorder in
                let stranger = asNobody(group: try diskGroup())
                #expect(try probe("open(a[0]).read()", recorder.path("lockcount"), user: stranger) == "EACCES")
                #expect(try writeOnce(recorder.path("acquire"), "Nobody", user: stranger) == "open EACCES")
                try expectFree(recorder)
            }
        }

        @Test("a bind mount of sr0 in another mount namespace (a container) locks the same recorder")
        func bindMountInNamespace() throws {
            try withRecorder { recorder in
                let inside = try recorder.workspace.directory("container")
                let session = try run(["unshare", "--mount", "sh", "-c", """
                    mkdir -p \(inside)/sr0; mount --bind \(recorder.directory) \(inside)/sr0; \
                    exec 3>\(inside)/sr0/acquire; echo Container >&3; cat \(inside)/sr0/owner; cat \(recorder.path("owner"))
                    """])
                #expect(session.status == 0, "\(session)")
                #expect(session.stdout == "Container\nContainer\n", "\(session)")
                #expect(mounts(at: "\(inside)/sr0").isEmpty, "the bind mount leaked out of its namespace")
                try expectFree(recorder)
            }
        }
    }
}
