import Testing

extension Mounted {
    @Suite("The tree")
    struct TreeTests {
        /// The files of a recorder directory (README, "The tree"): the five
        /// of the lock first, then drive control and drive information.
        static let lockFiles = ["owner", "lockcount", "acquire", "acquire_force", "release"]
        static let controlFiles = ["acquire", "acquire_force", "release", "eject", "closetray", "acquire_wait"]
        /// Issue I adds `acquire_wait` to each recorder and `events` to the
        /// root; issue K adds `state`.
        static let allFiles = lockFiles + ["holders", "generation", "eject", "closetray", "device", "vendor", "model",
                                           "revision", "serial", "capabilities", "media", "sg", "volumes", "acquire_wait",
                                           "state"]

        @Test("the mountpoint shows sr0, by-id and events; sr0 holds exactly its files, with their modes; a free recorder")
        func tree() throws {
            try withRecorder { recorder in
                #expect(try run(["ls", recorder.mountPoint]).check().stdout == "by-id\nevents\nsr0\n")
                #expect(try run(["stat", "-c", "%A %U %G %s", "\(recorder.mountPoint)/events"]).check().stdout
                    == "-r--r--r-- root root 0\n")
                #expect(try run(["ls", "\(recorder.mountPoint)/by-id"]).check().stdout == "", "a loop device has no stable id")
                #expect(try run(["ls", recorder.directory]).check().stdout
                    == Self.allFiles.sorted().map { $0 + "\n" }.joined())

                let modes = try run(["stat", "-c", "%A %U %G %n"] + Self.allFiles.map(recorder.path)).check().stdout
                // The control files follow the node (root:disk 0660 here).
                let expected = Self.allFiles.map { file in
                    (Self.controlFiles.contains(file) ? "--w--w---- root disk " : "-r--r--r-- root root ") + recorder.path(file) + "\n"
                }.joined()
                #expect(modes == expected)
                #expect(try run(["stat", "-c", "%A %U %G", recorder.mountPoint, recorder.directory, "\(recorder.mountPoint)/by-id"])
                    .check().stdout == "dr-xr-xr-x root root\ndr-xr-xr-x root root\ndr-xr-xr-x root root\n")

                #expect(try recorder.cat("owner") == "")
                #expect(try recorder.cat("lockcount") == "0\n")
                #expect(try recorder.cat("device") == "\(recorder.device)\n")
                #expect(try recorder.generation() == 0)
                #expect(try recorder.cat("holders") == "")
                #expect(try recorder.cat("volumes") == "")
                // A loop device has no vendor, model, serial, capabilities or sg.
                for file in ["vendor", "model", "revision", "serial", "capabilities", "sg"] {
                    #expect(try recorder.cat(file) == "", "\(file)")
                }
                #expect(mounts(at: recorder.mountPoint).map(\.type) == ["fuse.recorderfs"])
                #expect(mounts(at: recorder.mountPoint).map(\.source) == ["recorderfs"])
            }
        }

        @Test("the control files' write bits follow the device node's mode")
        func modeFollowsNode() throws {
            try withWorkspace { workspace in
                let device = try workspace.loopDevice()
                try run(["chmod", "0620", device]).check()
                let mountPoint = try workspace.directory("mnt")
                _ = try workspace.startDaemon(mountPoint: mountPoint, ["--no-discover", "--device", "sr0=\(device)"])
                #expect(try run(["stat", "-c", "%A %U %G", "\(mountPoint)/sr0/acquire"]).check().stdout
                    == "--w--w---- root disk\n")
                try run(["chmod", "0600", device]).check()
                // The attribute cache lasts at most a second.
                let followed = try poll(within: .seconds(5)) {
                    try run(["stat", "-c", "%A", "\(mountPoint)/sr0/release"]).check().stdout == "--w-------\n"
                }
                #expect(followed, "release did not follow chmod 0600 of the node")
            }
        }

        @Test("nothing can be created, removed, renamed, linked or changed in the tree")
        func immutable() throws {
            try withRecorder { recorder in
                let owner = recorder.path("owner")
                let listing = try run(["ls", recorder.directory]).check().stdout
                #expect(try sh("touch \(recorder.path("new"))").status != 0)
                #expect(try probe("os.open(a[0], os.O_WRONLY | os.O_CREAT, 0o644)", recorder.path("new")) == "EPERM")
                #expect(try probe("os.open(a[0], os.O_WRONLY | os.O_CREAT, 0o644)", "\(recorder.mountPoint)/new") == "EPERM")
                #expect(try sh("rm -f \(owner)").status != 0)
                #expect(try probe("os.unlink(a[0])", owner) == "EPERM")
                #expect(try probe("os.rmdir(a[0])", recorder.directory) == "EPERM")
                #expect(try sh("mv \(owner) \(recorder.path("moved"))").status != 0)
                #expect(try probe("os.rename(a[0], a[1])", owner, recorder.path("moved")) == "EPERM")
                #expect(try probe("os.mkdir(a[0])", recorder.path("d")) == "EPERM")
                #expect(try probe("os.mkdir(a[0])", "\(recorder.mountPoint)/sr9") == "EPERM")
                #expect(try probe("os.symlink('owner', a[0])", recorder.path("link")) == "EPERM")
                #expect(try probe("os.link(a[0], a[1])", owner, recorder.path("hard")) == "EPERM")
                #expect(try sh("chmod 777 \(owner)").status != 0)
                #expect(try probe("os.chmod(a[0], 0o777)", owner) == "EPERM")
                #expect(try probe("os.chown(a[0], 65534, 65534)", owner) == "EPERM")
                #expect(try probe("os.utime(a[0], (0, 0))", owner) == "EPERM")

                #expect(try probe("os.open(a[0], os.O_RDONLY)", recorder.path("acquire")) == "EACCES")
                #expect(try probe("os.open(a[0], os.O_RDWR)", recorder.path("acquire")) == "EACCES")
                #expect(try probe("os.open(a[0], os.O_WRONLY)", owner) == "EACCES")
                #expect(try probe("os.open(a[0], os.O_WRONLY)", recorder.path("lockcount")) == "EACCES")

                // `: > file` opens with O_TRUNC: accepted, and changes nothing.
                #expect(try sh(": > \(recorder.path("acquire"))").status == 0)
                #expect(try run(["truncate", "-s", "0", recorder.path("release")]).status == 0)
                #expect(try probe("os.truncate(a[0], 5)", recorder.path("release")) == "EPERM")
                try expectFree(recorder)
                #expect(try run(["ls", recorder.directory]).check().stdout == listing, "the tree changed")
                #expect(try run(["stat", "-c", "%a", owner]).check().stdout == "444\n")
            }
        }
    }
}
