#if canImport(Glibc)
import Glibc
#endif
import Testing
@testable import RecorderCore

/// The mountinfo(5) parser behind `acquire` / `acquire_force`.
@Suite("Mount table")
struct MountTableTests {
    static let sample = """
        22 1 259:2 / / rw,relatime shared:1 - ext4 /dev/nvme0n1p2 rw,errors=remount-ro
        36 22 7:3 / /media/my\\040disc rw,nosuid,nodev shared:20 - iso9660 /dev/loop3 ro,nojoliet
        37 22 7:3 /sub /mnt/tab\\011and\\134slash rw - iso9660 /dev/loop3 ro
        38 22 11:0 / /media/cdrom rw master:3 propagate_from:2 - udf /dev/sr0 ro
        40 22 0:50 / /recorders rw,nosuid,nodev,relatime shared:30 - fuse.recorderfs recorderfs rw,user_id=0,group_id=0
        41 22 0:51 / /recorders rw,relatime - fuse.recorderfs recorderfs rw,user_id=0,group_id=0
        42 22 0:52 / /srv/x\\040y rw - fuse.sshfs user@host:/my\\040dir rw
        not a mountinfo line
        43 22 7:4 / /missing/dash rw shared:1 ext4 /dev/loop4 rw
        44 22 7:x / /bad/numbers rw - ext4 /dev/loop4 rw

        """

    @Test func parsesEveryWellFormedLine() {
        let table = MountTable(parsing: Self.sample)
        #expect(table.entries.map(\.mountPoint) == [
            "/", "/media/my disc", "/mnt/tab\tand\\slash", "/media/cdrom", "/recorders", "/recorders", "/srv/x y",
        ])
        #expect(table.entries[0] == MountTable.Entry(
            id: 22, device: deviceNumber(major: 259, minor: 2), mountPoint: "/", fileSystemType: "ext4", source: "/dev/nvme0n1p2"))
        #expect(table.entries[3] == MountTable.Entry(
            id: 38, device: 0xB00, mountPoint: "/media/cdrom", fileSystemType: "udf", source: "/dev/sr0"))
        #expect(table.entries[6].source == "user@host:/my dir")
        #expect(table.entries[6].fileSystemType == "fuse.sshfs")
    }

    @Test func mountPointsOfADeviceInMountOrder() {
        let table = MountTable(parsing: Self.sample)
        #expect(table.mountPoints(ofDevice: 0x703) == ["/media/my disc", "/mnt/tab\tand\\slash"])
        #expect(table.mountPoints(ofDevice: deviceNumber(major: 11, minor: 0)) == ["/media/cdrom"])
        #expect(table.mountPoints(ofDevice: deviceNumber(major: 7, minor: 4)) == [])
    }

    @Test func theEntryAtAPathIsTheTopOfTheStack() throws {
        let table = MountTable(parsing: Self.sample)
        let top = try #require(table.entry(at: "/recorders"))
        #expect(top.device == deviceNumber(major: 0, minor: 51))
        #expect(top.fileSystemType == "fuse.recorderfs")
        #expect(top.source == "recorderfs")
        #expect(table.entry(at: "/media/my disc")?.fileSystemType == "iso9660")
        #expect(table.entry(at: "/media/my\\040disc") == nil)
        #expect(table.entry(at: "/nowhere") == nil)
    }

    @Test func emptyTextHasNoEntries() {
        #expect(MountTable(parsing: "").entries.isEmpty)
        #expect(MountTable(parsing: "\n\n").entries.isEmpty)
    }

    @Test(arguments: [
        ("plain", "plain"),
        ("a\\040b", "a b"),
        ("\\040lead", " lead"),
        ("trail\\040", "trail "),
        ("tab\\011", "tab\t"),
        ("new\\012line", "new\nline"),
        ("back\\134slash", "back\\slash"),
        ("two\\040\\040spaces", "two  spaces"),
        ("short\\04", "short\\04"),
        ("not\\9990octal", "not\\9990octal"),
        ("end\\", "end\\"),
        ("caf\\303\\251", "café"),
    ])
    func unescapesOctalEscapes(_ field: String, _ expected: String) {
        #expect(MountTable.unescape(Substring(field)) == expected)
    }

    /// glibc's makedev(3); the values were computed with os.makedev (glibc).
    @Test(arguments: [
        (UInt64(0), UInt64(0), UInt64(0)),
        (1, 3, 0x103),
        (7, 3, 0x703),
        (8, 1, 0x801),
        (11, 0, 0xB00),
        (259, 65536, 0x1001_0300),
        (4095, 255, 0xF_FFFF),
        (4096, 256, 0x1000_0010_0000),
        (0x12345, 0x6789A, 0x1_2000_6783_459A),
        (0xF_FFFF, 0xF_FFFF, 0xF_F000_FFFF_FFFF),
    ])
    func deviceNumberMatchesGlibc(_ major: UInt64, _ minor: UInt64, _ expected: UInt64) {
        #expect(deviceNumber(major: major, minor: minor) == expected)
    }

    /// The kernel agrees: /dev/null is 1:3.
    @Test func deviceNumberMatchesTheKernel() throws {
        var info = stat()
        try #require(stat("/dev/null", &info) == 0)
        #expect(UInt64(info.st_rdev) == deviceNumber(major: 1, minor: 3))
    }

    @Test func readsTheMountTableOfThisProcess() throws {
        let table = try MountTable.current()
        #expect(table.entry(at: "/") != nil)
        #expect(table.entry(at: "/proc")?.fileSystemType == "proc")
    }

    /// readFile reads into a buffer that starts at 8 KiB and doubles: every
    /// byte comes back, at and across each size it grows at.
    @Test(arguments: [0, 1, 8191, 8192, 8193, 16384, 70001])
    func readFileReturnsEveryByte(_ size: Int) throws {
        var template = Array("/tmp/recorderfs-readfile-XXXXXX".utf8CString)
        let descriptor = mkstemp(&template)
        try #require(descriptor >= 0)
        let path = String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
        defer { unlink(path) }
        let text = String((0..<size).map { Character(UnicodeScalar(UInt8(ascii: "a") + UInt8($0 % 26))) })
        let written = Array(text.utf8).withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        close(descriptor)
        try #require(written == size)
        #expect(try readFile(path) == text)
        do {
            _ = try readFile(path + ".missing")
            Issue.record("a missing file was read")
        } catch {
            #expect(error.rawValue == ENOENT)
        }
    }
}
