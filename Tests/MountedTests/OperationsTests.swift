#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing

// Issue G: installing, the mount(8) form, systemd's readiness, the journal's
// log format and containers (docs/operations.md, docs/containers.md).

/// The root of the repository (scripts/install lives there).
let repositoryRoot: String = {
    var path = #filePath
    for _ in 0..<3 { path = (path as NSString).deletingLastPathComponent }
    return path
}()

/// The release binary (the Swift runtime linked in): the one the tests run
/// when it is the release build, else the last one built, if any.
let releaseBinary: String? = {
    if MountEnvironment.binary.contains("/release/") { return MountEnvironment.binary }
    let built = repositoryRoot + "/.build/release/recorderfs"
    return access(built, X_OK) == 0 ? built : nil
}()

/// The files scripts/install writes, relative to DESTDIR, for the default prefix.
let installedFiles = [
    "/usr/local/bin/recorderfs",
    "/sbin/mount.fuse.recorderfs",
    "/etc/systemd/system/recorderfs.service",
    "/usr/local/share/man/man8/recorderfs.8",
    "/usr/local/share/bash-completion/completions/recorderfs",
    "/usr/local/share/zsh/site-functions/_recorderfs",
    "/usr/local/share/fish/vendor_completions.d/recorderfs.fish",
]

/// Every regular file and symlink under `root`, relative to it, sorted.
func filesUnder(_ root: String) -> [String] {
    guard let walker = FileManager.default.enumerator(atPath: root) else { return [] }
    var files: [String] = []
    while let relative = walker.nextObject() as? String {
        var info = stat()
        if lstat(root + "/" + relative, &info) == 0, info.st_mode & S_IFMT != S_IFDIR { files.append("/" + relative) }
    }
    return files.sorted()
}

@Suite("scripts/install and scripts/uninstall", .serialized, .timeLimit(.minutes(2)))
struct InstallTests {
    @Test("install into a DESTDIR: every file, twice the same; uninstall leaves nothing, twice")
    func installAndUninstall() throws {
        let destdir = try Workspace().directory("destdir")
        let install = [repositoryRoot + "/scripts/install", "--binary", MountEnvironment.binary, "DESTDIR=\(destdir)"]
        try run(install).check()
        #expect(filesUnder(destdir) == installedFiles.sorted())
        let first = installedFiles.map { fileBytes(destdir + $0) }
        try run(install).check()
        #expect(installedFiles.map { fileBytes(destdir + $0) } == first, "a second install changes nothing")
        #expect(filesUnder(destdir) == installedFiles.sorted())
        for executable in ["/usr/local/bin/recorderfs", "/sbin/mount.fuse.recorderfs"] {
            #expect(access(destdir + executable, X_OK) == 0, "\(executable) is executable")
        }

        let unit = fileText(destdir + "/etc/systemd/system/recorderfs.service")
        #expect(unit.contains("Type=notify"))
        #expect(unit.contains("ExecStart=/usr/local/bin/recorderfs mount /recorders"))
        #expect(unit.contains("Restart=on-failure"))
        #expect(fileText(destdir + "/sbin/mount.fuse.recorderfs").contains("exec /usr/local/bin/recorderfs "))
        let manual = fileText(destdir + "/usr/local/share/man/man8/recorderfs.8")
        for section in [".TH RECORDERFS 8", ".SH NAME", ".SH SYNOPSIS", ".SH \"EXIT STATUS\"", ".SH FILES", ".SS recorderfs mount", "\\-\\-log\\-level"] {
            #expect(manual.contains(section) || manual.contains(section.replacingOccurrences(of: "\\-", with: "-")), "man page: \(section)")
        }
        #expect(fileText(destdir + "/usr/local/share/bash-completion/completions/recorderfs").contains("complete"))
        #expect(fileText(destdir + "/usr/local/share/zsh/site-functions/_recorderfs").hasPrefix("#compdef recorderfs"))
        #expect(fileText(destdir + "/usr/local/share/fish/vendor_completions.d/recorderfs.fish").contains("complete -c 'recorderfs'"))

        let uninstall = [repositoryRoot + "/scripts/uninstall", "DESTDIR=\(destdir)"]
        try run(uninstall).check()
        #expect(filesUnder(destdir).isEmpty)
        #expect((try? FileManager.default.contentsOfDirectory(atPath: destdir)) == [], "no directory left either")
        try run(uninstall).check()

        // --prefix moves the files under it (the unit to lib/systemd with /usr).
        try run(install + ["--prefix", "/usr"]).check()
        #expect(access(destdir + "/usr/bin/recorderfs", X_OK) == 0)
        #expect(access(destdir + "/usr/lib/systemd/system/recorderfs.service", F_OK) == 0)
        try run(uninstall + ["--prefix", "/usr"]).check()
        #expect(filesUnder(destdir).isEmpty)
        try run(["rm", "-rf", (destdir as NSString).deletingLastPathComponent]).check()
    }

    @Test("the installed release binary needs only libc and libm (libstdc++/libgcc where their archives are missing); the daemon loads libfuse3 and libudev",
          .enabled(if: releaseBinary != nil || ProcessInfo.processInfo.environment["CI"] != nil,
                   "no release build (scripts/test builds one; under CI this fails instead)"))
    func selfContained() throws {
        let destdir = try Workspace().directory("destdir")
        defer { _ = try? run(["rm", "-rf", (destdir as NSString).deletingLastPathComponent]) }
        guard let releaseBinary else { throw TestFailure("no release build at \(repositoryRoot)/.build/release (scripts/test builds one)") }
        try run([repositoryRoot + "/scripts/install", "--binary", releaseBinary, "DESTDIR=\(destdir)"]).check()
        let binary = destdir + "/usr/local/bin/recorderfs"
        let dynamic = try run(["readelf", "-d", binary]).check().stdout
        let needed = dynamic.split(separator: "\n").filter { $0.contains("(NEEDED)") }.compactMap { line -> String? in
            guard let open = line.firstIndex(of: "["), let close = line.lastIndex(of: "]") else { return nil }
            return String(line[line.index(after: open)..<close])
        }
        // libfuse3 and libudev are not among them: the daemon loads them
        // (dlopen), so that the other commands start without them.
        let allowed = ["libc.so", "libm.so", "libstdc++.so", "libgcc_s.so", "ld-linux"]
        #expect(!needed.isEmpty)
        for library in needed {
            #expect(allowed.contains { library.hasPrefix($0) }, "needs \(library)")
        }
        // What start-up costs (docs/operations.md, "Start-up"): no run path
        // for the loader to search, and libstdc++ and libgcc's unwinder
        // linked in when their archives are on this machine (scripts/bootstrap).
        #expect(!dynamic.contains("RUNPATH") && !dynamic.contains("RPATH"), "\(dynamic)")
        for (archive, shared) in [("libstdc++.a", "libstdc++"), ("libgcc_eh.a", "libgcc_s")]
        where try run(["cc", "-print-file-name=\(archive)"]).check().stdout.hasPrefix("/") {
            #expect(!needed.contains { $0.hasPrefix(shared) }, "needs \(needed)")
        }
        // Nor does it export them: the library's own calls stay inside it.
        let exported = try run(["nm", "-D", "--defined-only", binary]).check().stdout
        #expect(!exported.contains(" fuse_") && !exported.contains(" udev_"), "exports libfuse's or libudev's names")
        // Nor any name of its own: the Swift runtime's dladdr walks them at
        // every start (scripts/bootstrap links with --no-export-dynamic).
        #expect(exported.isEmpty, "exports \(exported.split(separator: "\n").count) symbols")
        // Where the toolchain has lld, the binary is linked by it: packed
        // relative relocations, and the functions of scripts/link-order.txt
        // side by side at the start of the text.
        let toolchain = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":")
            .first { access("\($0)/swift", X_OK) == 0 }
            .map { URL(fileURLWithPath: "\($0)/swift").resolvingSymlinksInPath().deletingLastPathComponent().path }
        if let toolchain, access("\(toolchain)/ld.lld", X_OK) == 0 {
            #expect(dynamic.contains("(RELR)"), "\(dynamic)")
            // The first function listed is where the text's functions begin.
            var functions: [(address: UInt64, name: Substring)] = []
            for line in try run(["nm", "-n", "--defined-only", binary]).check().stdout.split(separator: "\n") {
                let fields = line.split(separator: " ", maxSplits: 2)
                if fields.count == 3, "tTwW".contains(fields[1]), let address = UInt64(fields[0], radix: 16) {
                    functions.append((address, fields[2]))
                }
            }
            let order = try String(contentsOfFile: repositoryRoot + "/scripts/link-order.txt", encoding: .utf8)
            let firstListed = order.split(separator: "\n").first
            let listedAddress = functions.first { $0.name == firstListed }?.address
            #expect(listedAddress != nil && listedAddress == functions.first?.address,
                    "the text begins with \(functions.first.map { String($0.name) } ?? "nothing"), not \(firstListed ?? "nothing")")
            // No name listed is a local symbol of several object files
            // (`objectdestroyTm`): lld would move the section of every one of
            // them to the front, a whole object's text each.
            var definitions: [Substring: Int] = [:]
            for function in functions { definitions[function.name, default: 0] += 1 }
            let repeated = order.split(separator: "\n").filter { definitions[$0, default: 0] > 1 }
            #expect(repeated.isEmpty, "\(repeated.count) names listed are defined more than once: \(repeated.prefix(3))")
        }
        let ldd = try run(["ldd", binary]).check().stdout
        for runtime in ["libswift", "libFoundation", "libdispatch", "libBlocksRuntime", "libicu", "not found"] {
            #expect(!ldd.contains(runtime), "ldd: \(ldd)")
        }
        // --version loads libfuse3 to name its version.
        let version = try run([binary, "--version"]).check().stdout
        #expect(version.hasPrefix("recorderfs 0.") && version.contains("(libfuse 3."), "\(version)")
    }
}

/// Runs a python3 harness that owns a unix datagram socket (NOTIFY_SOCKET,
/// an abstract name) and starts `command` with it, stderr to `log` marked as
/// the journal's stream (JOURNAL_STREAM); prints what it received, as JSON.
private let notifyHarness = #"""
    import json, os, signal, socket, subprocess, sys, time
    log, mountpoint, command = sys.argv[1], sys.argv[2], sys.argv[3:]
    name = "recorderfs-test-%d" % os.getpid()
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.bind("\0" + name); s.settimeout(15)
    out = open(log, "w"); st = os.fstat(out.fileno())
    env = dict(os.environ, NOTIFY_SOCKET="@" + name, JOURNAL_STREAM="%d:%d" % (st.st_dev, st.st_ino))
    p = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=out)
    ready = s.recv(4096).decode()
    # Right when READY=1 arrives, the tree answers.
    lockcount = open(os.path.join(mountpoint, "sr0", "lockcount")).read()
    subprocess.run(["sh", "-c", 'exec 3>"$1/sr0/acquire"; echo "My App" >&3; echo Other 2>/dev/null >"$1/sr0/acquire"; exec 3>&-', "sh", mountpoint])
    # A read after the close comes after its RELEASE (and the free it logs).
    open(os.path.join(mountpoint, "sr0", "lockcount")).read()
    # The device goes and comes back (RFS_TEST_LOOP): STATUS= follows.
    hotplug = []
    for action in ("remove", "add") if os.environ.get("RFS_TEST_LOOP") else ():
        with open("/sys/block/%s/uevent" % os.environ["RFS_TEST_LOOP"], "w") as uevent:
            uevent.write(action)
        hotplug.append(s.recv(4096).decode())
    p.send_signal(signal.SIGTERM)
    stopping = s.recv(4096).decode()
    status = p.wait(timeout=15)
    print(json.dumps({"ready": ready, "lockcount": lockcount, "hotplug": hotplug, "stopping": stopping, "status": status,
                      "pid": p.pid}))
    """#

extension Mounted {
    @Suite("Operations: the mount(8) form, systemd, the journal")
    struct OperationsTests {
        @Test("NOTIFY_SOCKET gets READY=1 once the tree answers, STATUS= (again as a recorder goes and comes), then STOPPING=1 on SIGTERM; JOURNAL_STREAM: <N> lines in logfmt")
        func readinessAndJournal() throws {
            try withWorkspace { workspace in
                let device = try workspace.loopDevice()
                let mountPoint = try workspace.directory("mnt")
                let log = workspace.path + "/journal.log"
                let loop = String(device.split(separator: "/").last!)
                let finished = try run(["/usr/bin/env", "RFS_TEST_LOOP=\(loop)", "/usr/bin/python3", "-c", notifyHarness, log,
                                        mountPoint, MountEnvironment.binary,
                                        "mount", mountPoint, "--no-discover", "--device", "sr0=\(device)", "--log-level", "info"],
                                       within: .seconds(60)).check()
                let result = try JSONSerialization.jsonObject(with: Data(finished.stdout.utf8)) as? [String: Any] ?? [:]
                let ready = result["ready"] as? String ?? ""
                #expect(ready.split(separator: "\n").contains("READY=1"), "\(ready)")
                #expect(ready.contains("STATUS=Serving 1 recorder (sr0) on \(mountPoint)"), "\(ready)")
                #expect(result["lockcount"] as? String == "0\n")
                #expect(result["hotplug"] as? [String] == ["STATUS=Serving 0 recorders on \(mountPoint)",
                                                           "STATUS=Serving 1 recorder (sr0) on \(mountPoint)"], "\(result)")
                #expect((result["stopping"] as? String ?? "").hasPrefix("STOPPING=1"), "\(result)")
                #expect(result["status"] as? Int == 0)

                let lines = fileText(log).split(separator: "\n")
                #expect(!lines.isEmpty && lines.allSatisfy { $0.hasPrefix("<") && $0.dropFirst(3).hasPrefix("recorderfs: ") }, "\(lines)")
                #expect(!lines.contains { $0.contains(try! Regex(#"\d{4}-\d\d-\d\dT\d\d:\d\d"#)) }, "no timestamps of our own")
                #expect(lines.contains { $0.hasPrefix("<5>") && $0.hasSuffix(" mounted") && $0.contains("recorders=\"sr0=\(device)\"") }, "\(lines)")
                #expect(lines.contains { $0.hasPrefix("<6>") && $0.contains("name=\"My App\"") && $0.contains("recorder=sr0") && $0.contains(" uid=0 ") && $0.hasSuffix(" lock") }, "\(lines)")
                #expect(lines.contains { $0.hasPrefix("<6>") && $0.contains("name=\"My App\"") && $0.hasSuffix(" free") }, "\(lines)")
                #expect(lines.contains { $0.hasPrefix("<5>") && $0.contains("name=Other") && $0.contains("reason=\"busy") && $0.hasSuffix(" refused") }, "\(lines)")
            }
        }

        @Test("without JOURNAL_STREAM the log keeps its timestamps and level words")
        func plainLog() throws {
            try withRecorder { recorder in
                let mounted = recorder.daemon.logLines(containing: "mounted")
                #expect(mounted.first?.contains(try! Regex(#"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\S* notice recorderfs: "#)) == true, "\(mounted)")
            }
        }

        @Test("recorderfs SOURCE MOUNTPOINT -o OPTIONS mounts, returns once ready; unknown options are refused by name")
        func fstabForm() throws {
            try withWorkspace { workspace in
                let device = try workspace.loopDevice()
                let mountPoint = try workspace.directory("mnt")
                let started = try run([MountEnvironment.binary, "recorderfs", mountPoint,
                                       "-o", "rw,nosuid,nodev,no_discover,device=sr0:\(device),timeout=2,x-systemd.automount,_netdev"])
                #expect(started.status == 0, "\(started)")
                defer { _ = try? run([MountEnvironment.binary, "unmount", mountPoint]) }
                #expect(mounts(at: mountPoint).contains { $0.type == "fuse.recorderfs" })
                #expect(fileText(mountPoint + "/sr0/lockcount") == "0\n")
                #expect(fileText(mountPoint + "/sr0/device") == device + "\n")
                try run([MountEnvironment.binary, "unmount", mountPoint]).check()
                #expect(mounts(at: mountPoint).isEmpty)

                for (option, words) in [("no_discover,bogus=1", "unknown mount option 'bogus'"), ("ro", "read-only"),
                                        ("timeout", "'timeout' needs a value"), ("device=sr0", "NAME:PATH")] {
                    let refused = try run([MountEnvironment.binary, "recorderfs", mountPoint, "-o", option])
                    #expect(refused.status == 64, "\(refused)")
                    #expect(refused.stderrLines.count == 1 && refused.stderr.contains(words), "\(refused)")
                }
                #expect(mounts(at: mountPoint).isEmpty)
            }
        }

        @Test("mount -t fuse.recorderfs runs the installed mount.fuse.recorderfs",
              .enabled(if: access("/sbin/mount.fuse.recorderfs", F_OK) != 0, "a mount.fuse.recorderfs is installed on this machine"))
        func mountHelper() throws {
            try withWorkspace { workspace in
                let destdir = try workspace.directory("destdir")
                try run([repositoryRoot + "/scripts/install", "--binary", MountEnvironment.binary,
                         "--prefix", destdir + "/usr", "DESTDIR=\(destdir)/root"]).check()
                // The helper names the binary under --prefix; mount(8) looks in /sbin only.
                let helper = "/sbin/mount.fuse.recorderfs"
                let script = fileText("\(destdir)/root/sbin/mount.fuse.recorderfs")
                    .replacingOccurrences(of: "exec \(destdir)/usr/bin/recorderfs", with: "exec \(destdir)/root\(destdir)/usr/bin/recorderfs")
                try script.write(toFile: helper, atomically: false, encoding: .utf8)
                chmod(helper, 0o755)
                defer { unlink(helper) }
                let device = try workspace.loopDevice()
                let mountPoint = try workspace.directory("mnt")
                let mounted = try run(["mount", "-t", "fuse.recorderfs", "-o", "no_discover,device=sr0:\(device),timeout=2", "recorderfs", mountPoint])
                #expect(mounted.status == 0, "\(mounted)")
                defer { _ = try? run(["umount", mountPoint]) }
                #expect(mounts(at: mountPoint).first { $0.type == "fuse.recorderfs" }?.source == "recorderfs")
                #expect(fileText(mountPoint + "/sr0/lockcount") == "0\n")
                try run(["umount", mountPoint]).check()
                _ = poll(within: .seconds(5)) { mounts(at: mountPoint).isEmpty }
                let refused = try run(["mount", "-t", "fuse.recorderfs", "-o", "bogus", "recorderfs", mountPoint])
                #expect(refused.status != 0 && refused.stderr.contains("unknown mount option 'bogus'"), "\(refused)")
            }
        }

        @Test("a container with only the binary: hold, status, the shell protocol and holders' pids, through bind mounts of sr0 and its node",
              arguments: [false, true])
        func container(userNamespace: Bool) throws {
            // With a user namespace (root mapped to root), as unprivileged container runtimes make.
            let unshare = ["unshare"] + (userNamespace ? ["--user", "--map-root-user"] : []) + ["--mount", "--pid", "--fork"]
            try withRecorder { recorder in
                let root = try recorder.workspace.directory("container")
                let binary = releaseBinary ?? MountEnvironment.binary
                // The binary and the shell, with the libraries ldd names (libc
                // and libm: a release binary carries the Swift runtime, and
                // only the daemon loads libfuse3 and libudev).
                var files = [binary: "/bin/recorderfs", "/bin/dash": "/bin/sh"]
                for program in [binary, "/bin/dash"] {
                    for line in try run(["ldd", program]).check().stdout.split(separator: "\n") {
                        if let path = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).first(where: { $0.hasPrefix("/") }) { files[String(path)] = String(path) }
                    }
                }
                #expect(!files.keys.contains { $0.contains("libfuse") || $0.contains("libudev") }, "\(files.keys.sorted())")
                for (source, target) in files {
                    try run(["mkdir", "-p", root + (target as NSString).deletingLastPathComponent]).check()
                    try run(["cp", "-L", source, root + target]).check()
                }
                for directory in ["proc", "dev", "recorders/sr0", "mnt"] { try run(["mkdir", "-p", "\(root)/\(directory)"]).check() }
                try run(["touch", root + recorder.device]).check()
                let inside = """
                    test -b \(recorder.device) || { echo "no node"; exit 1; }
                    recorderfs hold /recorders/sr0 --name Boxed -- /bin/sh -c 'read -r o </recorders/sr0/owner; echo "hold: $o"'
                    exec 3>/recorders/sr0/acquire; echo Shell >&3; read -r o </recorders/sr0/owner; echo "shell: $o"
                    read -r h </recorders/sr0/holders; echo "holders: $h"
                    recorderfs status /recorders/sr0 | while read -r line; do echo "status: $line"; done
                    exec 3>&-
                    read -r c </recorders/sr0/lockcount; echo "after: $c"
                    said=$(recorderfs mount /mnt --no-discover 2>&1); echo "mount status: $?"
                    printf '%s\n' "$said" | while read -r line; do echo "mount: $line"; done
                    """
                let outside = """
                    set -e
                    mount --bind "$1/sr0" "$2/recorders/sr0"
                    mount --bind "$3" "$2$3"
                    mount -t proc proc "$2/proc"
                    exec chroot "$2" /bin/sh -c "$4"
                    """
                let finished = try run(unshare + ["/bin/sh", "-c", outside, "sh",
                                        recorder.mountPoint, root, recorder.device, inside])
                #expect(finished.status == 0, "\(finished)")
                let lines = finished.stdout.split(separator: "\n")
                #expect(lines.contains("hold: Boxed"), "\(finished)")
                #expect(lines.contains("shell: Shell"), "\(finished)")
                // Issue G: the pid as the container's pid namespace sees it (the shell is its pid 1).
                #expect(lines.contains { $0.hasPrefix("holders: Shell pid=1 uid=0 count=1 since=") }, "\(finished)")
                #expect(lines.contains("after: 0"), "\(finished)")
                // Only the daemon needs libfuse3, and says so where it is missing.
                #expect(lines.contains("mount status: 1"), "\(finished)")
                #expect(lines.contains("mount: recorderfs: cannot load libfuse3.so.3 (libfuse3.so.3: cannot open shared object file: No such file or directory)."), "\(finished)")
                // status, given the recorder directory: one row, held by Shell.
                #expect(lines.contains { $0.hasPrefix("status: sr0 ") && $0.contains(" Shell ") }, "\(finished)")
                try expectFree(recorder)

                // A holder outside the container: invisible there, `pid=-`; outside, its pid.
                let agent = try recorder.workspace.agent()
                _ = try agent.hold(recorder.path("acquire"), "Outside")
                let look = "read -r h </recorders/sr0/holders; echo \"holders: $h\""
                let boxed = try run(unshare + ["/bin/sh", "-c", outside, "sh",
                                     recorder.mountPoint, root, recorder.device, look])
                #expect(boxed.stdout.hasPrefix("holders: Outside pid=- uid=0 count=1 since="), "\(boxed)")
                #expect(try recorder.cat("holders").hasPrefix("Outside pid=\(agent.pid) uid=0 count=1 since="))
            }
        }
    }
}
