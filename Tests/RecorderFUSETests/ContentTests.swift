#if canImport(Glibc)
import Glibc
#endif
import RecorderCore
@testable import RecorderFUSE
import Testing

/// What each value file shows (`RecorderFileSystem.content(of:_:)`): one
/// value ending in "\n" (sysfs rules), nothing when the value is unknown.
@Suite("Value file content")
struct ContentTests {
    @Test func aFreeRecorder() {
        let (fs, recorder, _) = Fixture.fileSystem(generationBase: 7)
        #expect(fs.text(.owner, recorder) == "")
        #expect(fs.text(.lockcount, recorder) == "0\n")
        #expect(fs.text(.holders, recorder) == "")
        #expect(fs.text(.generation, recorder) == "7\n")
    }

    @Test func aLockedRecorder() throws {
        let (fs, recorder, drive) = Fixture.fileSystem(generationBase: 7)
        let handle = recorder.makeHandle(countedFor: Fixture.alice.uid)
        try handle.acquire(Fixture.appA, caller: Fixture.alice, force: false)
        #expect(drive.claimed)
        #expect(fs.text(.owner, recorder) == "AppA\n")
        #expect(fs.text(.lockcount, recorder) == "1\n")
        #expect(fs.text(.generation, recorder) == "8\n")
        // A nested lock is no new generation.
        try handle.acquire(Fixture.appA, caller: Fixture.alice, force: false)
        #expect(fs.text(.owner, recorder) == "AppA\n")
        #expect(fs.text(.lockcount, recorder) == "2\n")
        #expect(fs.text(.generation, recorder) == "8\n")
        handle.closed()
        #expect(!drive.claimed)
        #expect(fs.text(.owner, recorder) == "")
        #expect(fs.text(.lockcount, recorder) == "0\n")
        #expect(fs.text(.holders, recorder) == "")
        #expect(fs.text(.generation, recorder) == "8\n")
    }

    @Test func theDriveDescription() {
        let (fs, recorder, _) = Fixture.fileSystem(
            drive: FakeDrive(node: "/dev/sr7", mounts: ["/media/disc", "/media/disc/inner"],
                             description: Fixture.described))
        #expect(fs.text(.device, recorder) == "/dev/sr7\n")
        #expect(fs.text(.vendor, recorder) == "HL-DT-ST\n")
        #expect(fs.text(.model, recorder) == "DVDRAM GH24NSD1\n")
        #expect(fs.text(.revision, recorder) == "LG00\n")
        #expect(fs.text(.serial, recorder) == "K1LG4AH2158\n")
        #expect(fs.text(.capabilities, recorder) == "cd_r cd_rw dvd_r\n")
        #expect(fs.text(.media, recorder) == "blank\n")
        #expect(fs.text(.sg, recorder) == "/dev/sg1\n")
        // One mount point a line, deepest last.
        #expect(fs.text(.volumes, recorder) == "/media/disc\n/media/disc/inner\n")
    }

    /// An unknown value is an empty file, not an empty line.
    @Test func unknownValuesAreEmpty() {
        var description = DriveDescription()
        description.vendor = ""
        description.capabilities = []
        let (fs, recorder, _) = Fixture.fileSystem(drive: FakeDrive(description: description))
        for file in [RecorderFile.vendor, .model, .revision, .serial, .capabilities, .media, .sg, .volumes] {
            #expect(fs.text(file, recorder) == "", "\(file.name)")
        }
    }

    @Test(arguments: RecorderFile.allCases.filter(\.isControl))
    func controlFilesHaveNoContent(file: RecorderFile) {
        let (fs, recorder, _) = Fixture.fileSystem(drive: FakeDrive(description: Fixture.described))
        #expect(fs.text(file, recorder) == "")
    }

    /// Every file that shows the lock table or the drive fails with ENODEV
    /// once the recorder went away.
    @Test func aRemovedRecorderIsNoDevice() {
        let (fs, recorder, _) = Fixture.fileSystem(drive: FakeDrive(description: Fixture.described))
        recorder.remove()
        for file in [RecorderFile.owner, .lockcount, .holders, .generation, .vendor, .model, .revision, .serial,
                     .capabilities, .media, .sg, .volumes] {
            do {
                let bytes = try fs.content(of: file, recorder)
                Issue.record("\(file.name) of a removed recorder read \(bytes.count) bytes")
            } catch {
                #expect(error == .noDevice, "\(file.name)")
                #expect(error.errno == ENODEV)
            }
        }
    }
}
