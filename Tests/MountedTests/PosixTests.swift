#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing

// POSIX behaviour of the tree, in the spirit of pjdfstest for a synthetic
// file system: exact errnos of python3's os calls, from separate processes.
// Observed on Linux 6.18 with libfuse 3.14, default_permissions; the loop
// node is root:disk 0660, so acquire & co. are root:disk 0220.
// "kernel" = the VFS or FUSE's kernel side answers before (or instead of)
// the daemon; "daemon" = recorderfs answers.
//
// | operation                                     | root             | a member of the node's group |
// |-----------------------------------------------|------------------|------------------------------|
// | open value file O_RDONLY                      | OK               | OK                           |
// | open value file O_WRONLY / O_RDWR / O_APPEND  | EACCES daemon    | EACCES kernel                |
// | open value file O_RDONLY|O_TRUNC              | OK (nothing truncated) | EACCES kernel          |
// | open control file O_WRONLY (+O_TRUNC, O_APPEND, O_CREAT) | OK    | OK                           |
// | open control file O_RDONLY / O_RDWR           | EACCES daemon    | EACCES kernel                |
// | open directory O_WRONLY / O_RDWR / O_TRUNC / O_CREAT | EISDIR kernel | EISDIR kernel            |
// | open file O_DIRECTORY                         | ENOTDIR kernel   | ENOTDIR kernel               |
// | open existing O_CREAT|O_EXCL (file or dir)    | EEXIST kernel    | EEXIST kernel                |
// | open new name O_CREAT (± O_EXCL)              | EPERM daemon     | EACCES kernel (0555 dir)     |
// | open missing / through a file                 | ENOENT / ENOTDIR kernel | same                  |
// | read(2) of a directory fd / write(2) of one   | EISDIR / EBADF kernel | same                    |
// | chmod (any mode, even the same)               | EPERM daemon     | EPERM kernel (not owner)     |
// | chown (to anyone; -1,-1)                      | EPERM daemon     | EPERM kernel; -1,-1: EPERM daemon |
// | utime with times                              | EPERM daemon     | EPERM kernel (not owner)     |
// | utime now                                     | EPERM daemon     | value, dir: EACCES kernel; control: EPERM daemon |
// | truncate control file to 0                    | OK (no-op)       | OK (no-op)                   |
// | truncate control file to N > 0                | EPERM daemon     | EPERM daemon                 |
// | truncate value file (any size)                | EPERM daemon     | EACCES kernel                |
// | truncate directory                            | EISDIR kernel    | EISDIR kernel                |
// | unlink file                                   | EPERM daemon     | EACCES kernel (0555 dir)     |
// | unlink directory                              | EISDIR kernel    | EACCES kernel (0555 parent first) |
// | rmdir recorder directory                      | EPERM daemon     | EACCES kernel                |
// | rmdir file                                    | ENOTDIR kernel   | EACCES kernel (0555 parent first) |
// | rename file (within or across directories, onto another file) | EPERM daemon | EACCES kernel |
// | rename onto itself                            | OK (kernel no-op)| OK (kernel no-op)            |
// | rename directory into itself                  | EINVAL kernel    | EINVAL kernel                |
// | link file                                     | EPERM daemon     | EPERM kernel (protected_hardlinks) |
// | link directory                                | EPERM kernel     | EPERM kernel                 |
// | symlink, mknod (fifo, regular), mkdir: new name | EPERM daemon   | EACCES kernel                |
// | symlink, mkdir over an existing name          | EEXIST kernel    | EEXIST kernel                |
// | setxattr, removexattr                         | EPERM daemon     | control file: EPERM daemon; value file: EACCES kernel |
// | getxattr, listxattr                           | ENOTSUP (daemon has none: libfuse ENOSYS, the kernel answers EOPNOTSUPP) | same |
// | readlink of a file or directory               | EINVAL kernel    | EINVAL kernel                |
// | execve of a value file                        | EACCES kernel (no x bit) | same                 |
// | mmap of a control file (any flags)            | EACCES kernel (write-only fd) | same            |
// | mmap MAP_SHARED of a value file               | ENODEV kernel (direct I/O, HostileInputTests) | same |
//
// (MAP_PRIVATE of a value file is not refused: the kernel maps a private
// copy filled by a read, and a later fault past the value's length raises
// SIGBUS in the client, never in the daemon. Not tested here.)
//
// stat: directories S_IFDIR 0555 root:root, size 0, nlink 2 (the mountpoint
// 2 + its subdirectories: by-id and one per recorder); value files S_IFREG
// 0444 root:root; control files S_IFREG with the node's write bits, owner
// and group; every file nlink 1, size 4096 (as sysfs), blocks 0, blksize
// 4096; atime = mtime = ctime = the time of mount, for every entry; st_ino
// unique, the same in readdir, and stable across lookups and locks.

extension Mounted {
    @Suite("POSIX behaviour")
    struct PosixTests {
        /// One call and the errno name (or "OK") it must give.
        struct Case: CustomStringConvertible {
            var statement: String
            /// Placeholders for paths: see `paths(of:)`.
            var arguments: [String]
            var expected: String

            var description: String { "\(statement) \(arguments)" }
        }

        /// The paths behind the placeholders of a case.
        static func paths(of recorder: MountedRecorder) -> [String: String] {
            [
                "R": recorder.mountPoint, "D": recorder.directory, "B": "\(recorder.mountPoint)/by-id",
                "V": recorder.path("owner"), "V2": recorder.path("lockcount"),
                "C": recorder.path("acquire"), "C2": recorder.path("release"),
                "N": recorder.path("new"), "NR": "\(recorder.mountPoint)/new", "NB": "\(recorder.mountPoint)/by-id/new",
                "M": recorder.path("missing"), "VX": recorder.path("owner") + "/x",
            ]
        }

        static func expectAnswers(_ cases: [Case], _ recorder: MountedRecorder, user: [String] = [], as who: String,
                        sourceLocation: SourceLocation = #_sourceLocation) throws {
            let paths = paths(of: recorder)
            for test in cases {
                let arguments = test.arguments.map { paths[$0] ?? $0 }
                let answer = try probe(test.statement, arguments, user: user)
                #expect(answer == test.expected, "\(who): \(test)", sourceLocation: sourceLocation)
            }
        }

        // MARK: Open modes

        static let openFlags = [
            "os.O_RDONLY", "os.O_WRONLY", "os.O_RDWR", "os.O_WRONLY | os.O_TRUNC", "os.O_RDONLY | os.O_TRUNC",
            "os.O_WRONLY | os.O_APPEND", "os.O_RDWR | os.O_APPEND", "os.O_WRONLY | os.O_CREAT", "os.O_RDONLY | os.O_CREAT",
            "os.O_WRONLY | os.O_CREAT | os.O_EXCL", "os.O_RDONLY | os.O_DIRECTORY", "os.O_PATH", "os.O_RDONLY | os.O_NOFOLLOW",
            "os.O_WRONLY | os.O_NONBLOCK",
        ]

        /// The answers to `openFlags`, in order, per kind of file.
        static let openAnswers: [String: [String]] = [
            "value, root": ["OK", "EACCES", "EACCES", "EACCES", "OK", "EACCES", "EACCES", "EACCES", "OK", "EEXIST", "ENOTDIR", "OK", "OK", "EACCES"],
            "value, member": ["OK", "EACCES", "EACCES", "EACCES", "EACCES", "EACCES", "EACCES", "EACCES", "OK", "EEXIST", "ENOTDIR", "OK", "OK", "EACCES"],
            "control": ["EACCES", "OK", "EACCES", "OK", "EACCES", "OK", "EACCES", "OK", "EACCES", "EEXIST", "ENOTDIR", "OK", "EACCES", "OK"],
            "directory": ["OK", "EISDIR", "EISDIR", "EISDIR", "EISDIR", "EISDIR", "EISDIR", "EISDIR", "EISDIR", "EEXIST", "OK", "OK", "OK", "EISDIR"],
        ]

        static func openCases(member: Bool) -> [Case] {
            let kinds: [(placeholders: [String], answers: String)] = [
                (["V", "V2"], member ? "value, member" : "value, root"),
                (["C", "C2"], "control"),
                (["D", "R", "B"], "directory"),
            ]
            return kinds.flatMap { kind in
                kind.placeholders.flatMap { placeholder in
                    zip(openFlags, openAnswers[kind.answers]!).map { flags, answer in
                        Case(statement: "os.close(os.open(a[0], \(flags), 0o644))", arguments: [placeholder], expected: answer)
                    }
                }
            }
        }

        @Test("open modes per kind of file, as root and as a member of the node's group")
        func openModes() throws {
            try withRecorder(["--allow-other"]) { recorder in
                let holder = try recorder.workspace.agent()
                _ = try holder.hold(recorder.path("acquire"), "Holder")
                try Self.expectAnswers(Self.openCases(member: false), recorder, as: "root")
                try Self.expectAnswers(Self.openCases(member: true), recorder, user: asNobody(group: try diskGroup()), as: "member")
                // Nothing was truncated, taken or dropped on the way.
                try expectHeld(recorder, by: "Holder", count: 1)
            }
        }

        @Test("O_CREAT on an existing file opens it; on a new name EPERM; O_CREAT|O_EXCL EEXIST; O_TRUNC and O_APPEND")
        func creationFlags() throws {
            try withRecorder { recorder in
                let paths = Self.paths(of: recorder)
                // O_CREAT on acquire works as open: the write takes a lock.
                let created = pythonScript("open_creat")
                #expect(try probe(created, paths["C"]!, paths["V"]!, paths["V2"]!) == "OK")
                try expectFree(recorder)
                for (placeholder, flags) in [("N", "os.O_WRONLY | os.O_CREAT"), ("N", "os.O_WRONLY | os.O_CREAT | os.O_EXCL"),
                                             ("N", "os.O_RDONLY | os.O_CREAT"), ("NR", "os.O_WRONLY | os.O_CREAT"),
                                             ("NB", "os.O_WRONLY | os.O_CREAT")] {
                    #expect(try probe("os.open(a[0], \(flags), 0o644)", paths[placeholder]!) == "EPERM", "\(placeholder) \(flags)")
                }
                for placeholder in ["V", "C", "C2", "D", "R"] {
                    #expect(try probe("os.open(a[0], os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)", paths[placeholder]!) == "EEXIST",
                            "\(placeholder)")
                }
                #expect(try probe("os.open(a[0], os.O_RDONLY)", paths["N"]!) == "ENOENT")

                // O_TRUNC on a held recorder's acquire: accepted, the lock stays;
                // a name written through the truncating open is refused, the
                // holder's name too (one handle, one holder).
                let holder = try recorder.workspace.agent()
                let handle = try holder.hold(recorder.path("acquire"), "Holder")
                let truncating = pythonScript("open_trunc")
                #expect(try probe(truncating, paths["C"]!, paths["V2"]!) == "OK")
                #expect(try probe("os.write(os.open(a[0], os.O_WRONLY | os.O_TRUNC), b'Other')", paths["C"]!) == "EBUSY")
                // Root's O_RDONLY|O_TRUNC of a value file opens it and truncates nothing.
                #expect(try probe("assert os.read(os.open(a[0], os.O_RDONLY | os.O_TRUNC), 100) == b'Holder\\n'", paths["V"]!) == "OK")
                try expectHeld(recorder, by: "Holder", count: 1)

                // O_APPEND: the write is answered like any other: refused
                // through another handle while held, the lock once free.
                #expect(try probe("os.write(os.open(a[0], os.O_WRONLY | os.O_APPEND), b'Holder')", paths["C"]!) == "EBUSY")
                try expectHeld(recorder, by: "Holder", count: 1)
                #expect(try holder.close(handle) == .ok(0))
                try expectFree(recorder)
                let appending = pythonScript("open_append")
                #expect(try probe(appending, paths["C"]!, paths["V2"]!) == "OK")
                try expectFree(recorder)
            }
        }

        // MARK: stat

        /// lstat of every entry and the inode numbers readdir gives, as
        /// "path|mode|nlink|size|uid|gid|ino|atime_ns|mtime_ns|ctime_ns|blocks|blksize|dev" lines and
        /// "dirent|path|ino" lines.
        static let statScript = pythonScript("stat_tree")

        struct Entry: Equatable {
            var mode: UInt32, nlink: Int, size: Int, uid: UInt32, gid: UInt32, ino: UInt64
            var atime: Int, mtime: Int, ctime: Int, blocks: Int, blksize: Int, dev: UInt64
        }

        static func statTree(_ mountPoint: String) throws -> (entries: [String: Entry], order: [String], dirents: [String: UInt64], parentDevice: UInt64) {
            let output = try run(["/usr/bin/python3", "-c", statScript, mountPoint]).check().stdout
            var entries: [String: Entry] = [:]
            var order: [String] = []
            var dirents: [String: UInt64] = [:]
            var parentDevice: UInt64 = 0
            for line in output.split(separator: "\n") {
                let fields = line.split(separator: "|").map(String.init)
                if fields[0] == "dirent" {
                    dirents[fields[1]] = UInt64(fields[2])
                } else if fields[0] == "parent" {
                    parentDevice = UInt64(fields[1]) ?? 0
                } else {
                    let n = fields.dropFirst().map { Int($0)! }
                    entries[fields[0]] = Entry(mode: UInt32(n[0]), nlink: n[1], size: n[2], uid: UInt32(n[3]), gid: UInt32(n[4]),
                                               ino: UInt64(n[5]), atime: n[6], mtime: n[7], ctime: n[8], blocks: n[9],
                                               blksize: n[10], dev: UInt64(n[11]))
                    order.append(fields[0])
                }
            }
            return (entries, order, dirents, parentDevice)
        }

        static func realtimeNanoseconds() -> Int {
            var now = timespec()
            clock_gettime(CLOCK_REALTIME, &now)
            return now.tv_sec * 1_000_000_000 + now.tv_nsec
        }

        @Test("stat: type, mode, nlink, size 4096, owner, times of the mount, unique and stable inode numbers")
        func statFields() throws {
            try withWorkspace { workspace in
                let device = try workspace.loopDevice()
                let mountPoint = try workspace.directory("mnt")
                let before = Self.realtimeNanoseconds()
                let daemon = try workspace.startDaemon(mountPoint: mountPoint, MountedRecorder.arguments + ["--device", "sr0=\(device)"])
                let after = Self.realtimeNanoseconds()
                let recorder = MountedRecorder(workspace: workspace, mountPoint: mountPoint, device: device, daemon: daemon)
                let disk = try diskGroup()

                let first = try Self.statTree(mountPoint)
                let files = TreeTests.allFiles
                // The root, by-id, events (issue I), sr0 and its files.
                #expect(first.order.count == 4 + files.count, "\(first.order)")
                let mountTime = first.entries[mountPoint]?.mtime ?? 0
                #expect(before <= mountTime && mountTime <= after, "mount time \(mountTime) not within [\(before), \(after)]")

                for (path, entry) in first.entries {
                    let name = (path as NSString).lastPathComponent
                    let isDirectory = [mountPoint, recorder.directory, "\(mountPoint)/by-id"].contains(path)
                    if isDirectory {
                        #expect(entry.mode == UInt32(S_IFDIR) | 0o555, "\(path) mode \(String(entry.mode, radix: 8))")
                        #expect(entry.size == 0 && entry.uid == 0 && entry.gid == 0, "\(path): \(entry)")
                        // The mountpoint: ".", its entry in its parent, and one ".." per subdirectory.
                        #expect(entry.nlink == (path == mountPoint ? 4 : 2), "\(path) nlink \(entry.nlink)")
                    } else if TreeTests.controlFiles.contains(name) {
                        #expect(entry.mode == UInt32(S_IFREG) | 0o220, "\(path) mode \(String(entry.mode, radix: 8))")
                        #expect(entry.uid == 0 && entry.gid == disk, "\(path): \(entry)")
                    } else {
                        #expect(entry.mode == UInt32(S_IFREG) | 0o444, "\(path) mode \(String(entry.mode, radix: 8))")
                        #expect(entry.uid == 0 && entry.gid == 0, "\(path): \(entry)")
                    }
                    if path == "\(mountPoint)/events" {
                        // A stream, like a pipe: no size.
                        #expect(entry.nlink == 1 && entry.size == 0, "\(path): \(entry)")
                    } else if !isDirectory {
                        #expect(entry.nlink == 1 && entry.size == 4096, "\(path): \(entry)")
                    }
                    #expect(entry.blocks == 0 && entry.blksize == 4096, "\(path): \(entry)")
                    #expect(entry.atime == mountTime && entry.mtime == mountTime && entry.ctime == mountTime, "\(path): \(entry)")
                    #expect(entry.dev == first.entries[mountPoint]?.dev, "\(path): another device")
                }
                #expect(first.entries[mountPoint]?.dev != first.parentDevice, "the mountpoint shows its parent's device")
                #expect(first.entries[mountPoint]?.ino == 1, "the root is inode 1")
                // Every inode number is unique, and readdir gives the same ones.
                let inodes = first.entries.values.map(\.ino)
                #expect(Set(inodes).count == inodes.count, "\(first.entries.mapValues(\.ino))")
                for (path, ino) in first.dirents {
                    #expect(first.entries[path]?.ino == ino, "\(path): readdir says \(ino), stat \(String(describing: first.entries[path]?.ino))")
                }
                #expect(first.dirents.count == first.entries.count - 1, "\(first.dirents)")

                // Locks, and lookups after the entry timeout (1 s), change nothing.
                let agent = try recorder.workspace.agent()
                let handle = try agent.hold(recorder.path("acquire"), "Holder")
                usleep(1_200_000)
                let second = try Self.statTree(mountPoint)
                #expect(second.entries == first.entries, "stat changed while locked")
                #expect(second.dirents == first.dirents)
                #expect(try agent.close(handle) == .ok(0))
                usleep(1_200_000)
                let third = try Self.statTree(mountPoint)
                #expect(third.entries == first.entries, "stat changed after unlocking")
            }
        }

        // MARK: Everything else is refused

        /// As root: the daemon refuses what reaches it with EPERM; the kernel
        /// answers first where the VFS decides (see the table at the top).
        static let rootRefusals: [Case] = [
            Case(statement: "os.chmod(a[0], 0o777)", arguments: ["V"], expected: "EPERM"),
            Case(statement: "os.chmod(a[0], 0o444)", arguments: ["V"], expected: "EPERM"),
            Case(statement: "os.chmod(a[0], 0o220)", arguments: ["C"], expected: "EPERM"),
            Case(statement: "os.chmod(a[0], 0o777)", arguments: ["D"], expected: "EPERM"),
            Case(statement: "os.chmod(a[0], 0o777)", arguments: ["R"], expected: "EPERM"),
            Case(statement: "os.chown(a[0], 65534, 65534)", arguments: ["V"], expected: "EPERM"),
            Case(statement: "os.chown(a[0], 0, 0)", arguments: ["V"], expected: "EPERM"),
            Case(statement: "os.chown(a[0], -1, -1)", arguments: ["C"], expected: "EPERM"),
            Case(statement: "os.chown(a[0], 65534, -1)", arguments: ["D"], expected: "EPERM"),
            Case(statement: "os.lchown(a[0], 65534, -1)", arguments: ["C2"], expected: "EPERM"),
            Case(statement: "os.utime(a[0], (0, 0))", arguments: ["V"], expected: "EPERM"),
            Case(statement: "os.utime(a[0])", arguments: ["V"], expected: "EPERM"),
            Case(statement: "os.utime(a[0])", arguments: ["C"], expected: "EPERM"),
            Case(statement: "os.utime(a[0], ns=(1, 1))", arguments: ["D"], expected: "EPERM"),
            Case(statement: "os.utime(a[0])", arguments: ["R"], expected: "EPERM"),
            Case(statement: "os.truncate(a[0], 0)", arguments: ["V"], expected: "EPERM"),
            Case(statement: "os.truncate(a[0], 5)", arguments: ["V"], expected: "EPERM"),
            Case(statement: "os.truncate(a[0], 0)", arguments: ["C"], expected: "OK"),
            Case(statement: "os.truncate(a[0], 5)", arguments: ["C"], expected: "EPERM"),
            Case(statement: "os.truncate(a[0], 0)", arguments: ["D"], expected: "EISDIR"),
            Case(statement: "os.unlink(a[0])", arguments: ["V"], expected: "EPERM"),
            Case(statement: "os.unlink(a[0])", arguments: ["C"], expected: "EPERM"),
            Case(statement: "os.unlink(a[0])", arguments: ["D"], expected: "EISDIR"),
            Case(statement: "os.unlink(a[0])", arguments: ["M"], expected: "ENOENT"),
            Case(statement: "os.rmdir(a[0])", arguments: ["D"], expected: "EPERM"),
            Case(statement: "os.rmdir(a[0])", arguments: ["B"], expected: "EPERM"),
            Case(statement: "os.rmdir(a[0])", arguments: ["V"], expected: "ENOTDIR"),
            Case(statement: "os.rmdir(a[0])", arguments: ["M"], expected: "ENOENT"),
            Case(statement: "os.rename(a[0], a[1])", arguments: ["V", "N"], expected: "EPERM"),
            Case(statement: "os.rename(a[0], a[1])", arguments: ["V", "NR"], expected: "EPERM"),
            Case(statement: "os.rename(a[0], a[1])", arguments: ["V", "C"], expected: "EPERM"),
            Case(statement: "os.rename(a[0], a[1])", arguments: ["C", "C2"], expected: "EPERM"),
            Case(statement: "os.rename(a[0], a[1])", arguments: ["D", "NR"], expected: "EPERM"),
            Case(statement: "os.rename(a[0], a[1])", arguments: ["V", "V"], expected: "OK"),
            Case(statement: "os.rename(a[0], a[1])", arguments: ["D", "N"], expected: "EINVAL"),
            Case(statement: "os.link(a[0], a[1])", arguments: ["V", "N"], expected: "EPERM"),
            Case(statement: "os.link(a[0], a[1])", arguments: ["C", "NR"], expected: "EPERM"),
            Case(statement: "os.link(a[0], a[1])", arguments: ["D", "NR"], expected: "EPERM"),
            Case(statement: "os.symlink('owner', a[0])", arguments: ["N"], expected: "EPERM"),
            Case(statement: "os.symlink('sr0', a[0])", arguments: ["NB"], expected: "EPERM"),
            Case(statement: "os.symlink('owner', a[0])", arguments: ["V"], expected: "EEXIST"),
            Case(statement: "os.mknod(a[0], 0o644 | stat.S_IFIFO)", arguments: ["N"], expected: "EPERM"),
            Case(statement: "os.mknod(a[0], 0o644 | stat.S_IFREG)", arguments: ["N"], expected: "EPERM"),
            Case(statement: "os.mknod(a[0], 0o644 | stat.S_IFCHR, os.makedev(1, 3))", arguments: ["NR"], expected: "EPERM"),
            Case(statement: "os.mkfifo(a[0])", arguments: ["N"], expected: "EPERM"),
            Case(statement: "os.mkdir(a[0])", arguments: ["N"], expected: "EPERM"),
            Case(statement: "os.mkdir(a[0])", arguments: ["NR"], expected: "EPERM"),
            Case(statement: "os.mkdir(a[0])", arguments: ["D"], expected: "EEXIST"),
            Case(statement: "os.mkdir(a[0])", arguments: ["V"], expected: "EEXIST"),
            Case(statement: "os.setxattr(a[0], 'user.x', b'1')", arguments: ["V"], expected: "EPERM"),
            Case(statement: "os.setxattr(a[0], 'user.x', b'1')", arguments: ["D"], expected: "EPERM"),
            Case(statement: "os.removexattr(a[0], 'user.x')", arguments: ["C"], expected: "EPERM"),
            Case(statement: "os.getxattr(a[0], 'user.x')", arguments: ["V"], expected: "ENOTSUP"),
            Case(statement: "os.listxattr(a[0])", arguments: ["D"], expected: "ENOTSUP"),
            Case(statement: "os.readlink(a[0])", arguments: ["V"], expected: "EINVAL"),
            Case(statement: "os.readlink(a[0])", arguments: ["D"], expected: "EINVAL"),
            Case(statement: "os.open(a[0], os.O_RDONLY)", arguments: ["VX"], expected: "ENOTDIR"),
            Case(statement: "os.listdir(a[0])", arguments: ["V"], expected: "ENOTDIR"),
            Case(statement: "os.read(os.open(a[0], os.O_RDONLY), 10)", arguments: ["D"], expected: "EISDIR"),
            Case(statement: "os.write(os.open(a[0], os.O_RDONLY), b'x')", arguments: ["D"], expected: "EBADF"),
            Case(statement: "os.write(os.open(a[0], os.O_RDONLY), b'x')", arguments: ["V"], expected: "EBADF"),
            Case(statement: "os.execv(a[0], [a[0]])", arguments: ["V"], expected: "EACCES"),
            Case(statement: "os.execv(a[0], [a[0]])", arguments: ["C"], expected: "EACCES"),
        ]

        /// As a member of the node's group: the kernel's permission checks
        /// come first (0555 directories, 0444 values, not the owner).
        static let memberRefusals: [Case] = [
            Case(statement: "os.chmod(a[0], 0o777)", arguments: ["V"], expected: "EPERM"),
            Case(statement: "os.chmod(a[0], 0o777)", arguments: ["C"], expected: "EPERM"),
            Case(statement: "os.chmod(a[0], 0o777)", arguments: ["D"], expected: "EPERM"),
            Case(statement: "os.chown(a[0], 65534, -1)", arguments: ["V"], expected: "EPERM"),
            Case(statement: "os.chown(a[0], -1, -1)", arguments: ["V"], expected: "EPERM"),
            Case(statement: "os.chown(a[0], -1, -1)", arguments: ["C"], expected: "EPERM"),
            Case(statement: "os.utime(a[0], (0, 0))", arguments: ["V"], expected: "EPERM"),
            Case(statement: "os.utime(a[0], (0, 0))", arguments: ["C"], expected: "EPERM"),
            Case(statement: "os.utime(a[0])", arguments: ["V"], expected: "EACCES"),
            Case(statement: "os.utime(a[0])", arguments: ["C"], expected: "EPERM"),
            Case(statement: "os.utime(a[0])", arguments: ["D"], expected: "EACCES"),
            Case(statement: "os.truncate(a[0], 0)", arguments: ["V"], expected: "EACCES"),
            Case(statement: "os.truncate(a[0], 0)", arguments: ["C"], expected: "OK"),
            Case(statement: "os.truncate(a[0], 5)", arguments: ["C"], expected: "EPERM"),
            Case(statement: "os.unlink(a[0])", arguments: ["V"], expected: "EACCES"),
            Case(statement: "os.unlink(a[0])", arguments: ["C"], expected: "EACCES"),
            Case(statement: "os.rmdir(a[0])", arguments: ["D"], expected: "EACCES"),
            Case(statement: "os.rename(a[0], a[1])", arguments: ["V", "N"], expected: "EACCES"),
            Case(statement: "os.rename(a[0], a[1])", arguments: ["C", "C2"], expected: "EACCES"),
            Case(statement: "os.rename(a[0], a[1])", arguments: ["V", "V"], expected: "OK"),
            Case(statement: "os.link(a[0], a[1])", arguments: ["V", "N"], expected: "EPERM"),
            Case(statement: "os.link(a[0], a[1])", arguments: ["C", "N"], expected: "EPERM"),
            Case(statement: "os.symlink('owner', a[0])", arguments: ["N"], expected: "EACCES"),
            Case(statement: "os.mkfifo(a[0])", arguments: ["N"], expected: "EACCES"),
            Case(statement: "os.mkdir(a[0])", arguments: ["N"], expected: "EACCES"),
            Case(statement: "os.mkdir(a[0])", arguments: ["NR"], expected: "EACCES"),
            Case(statement: "os.open(a[0], os.O_WRONLY | os.O_CREAT, 0o644)", arguments: ["N"], expected: "EACCES"),
            Case(statement: "os.unlink(a[0])", arguments: ["D"], expected: "EACCES"),
            Case(statement: "os.rmdir(a[0])", arguments: ["V"], expected: "EACCES"),
            Case(statement: "os.rename(a[0], a[1])", arguments: ["D", "N"], expected: "EINVAL"),
            Case(statement: "os.setxattr(a[0], 'user.x', b'1')", arguments: ["C"], expected: "EPERM"),
            Case(statement: "os.setxattr(a[0], 'user.x', b'1')", arguments: ["V"], expected: "EACCES"),
            Case(statement: "os.removexattr(a[0], 'user.x')", arguments: ["V"], expected: "EACCES"),
            Case(statement: "os.getxattr(a[0], 'user.x')", arguments: ["V"], expected: "ENOTSUP"),
            Case(statement: "os.listxattr(a[0])", arguments: ["C"], expected: "ENOTSUP"),
        ]

        @Test("chmod, chown, utime, truncate, unlink, rmdir, rename, link, symlink, mknod, mkdir, xattrs: each refused with its fixed errno")
        func refusals() throws {
            try withRecorder(["--allow-other"]) { recorder in
                let holder = try recorder.workspace.agent()
                _ = try holder.hold(recorder.path("acquire"), "Holder")
                let listing = try run(["ls", "-lan", "--time-style=+%s", recorder.directory]).check().stdout
                let rootListing = try run(["ls", "-lan", "--time-style=+%s", recorder.mountPoint]).check().stdout
                let statement = "import stat\n" // the mknod cases use stat.S_IF*
                try Self.expectAnswers(Self.rootRefusals.map { var test = $0; test.statement = statement + test.statement; return test },
                             recorder, as: "root")
                try Self.expectAnswers(Self.memberRefusals, recorder, user: asNobody(group: try diskGroup()), as: "member")
                // Nothing changed: entries, modes, owners, sizes, times, the lock.
                #expect(try run(["ls", "-lan", "--time-style=+%s", recorder.directory]).check().stdout == listing)
                #expect(try run(["ls", "-lan", "--time-style=+%s", recorder.mountPoint]).check().stdout == rootListing)
                try expectHeld(recorder, by: "Holder", count: 1)
                #expect(try recorder.generation() == 1)
            }
        }
    }
}

/// `probe` with its arguments as an array.
private func probe(_ statement: String, _ arguments: [String], user: [String] = []) throws -> String {
    switch arguments.count {
    case 0: try probe(statement, user: user)
    case 1: try probe(statement, arguments[0], user: user)
    case 2: try probe(statement, arguments[0], arguments[1], user: user)
    default: try probe(statement, arguments[0], arguments[1], arguments[2], user: user)
    }
}
