#if canImport(Glibc)
import Glibc
#endif
import Logging
import RecorderCore
@testable import RecorderFUSE
import Testing

/// Names, callers and a file system over fake drives, with no mount.
enum Fixture {
    static let appA = name("AppA")
    static let appB = name("AppB")

    static let alice = Caller(pid: 100, uid: 1000, gid: 1000)
    static let bob = Caller(pid: 200, uid: 1001, gid: 1001)

    static func name(_ string: String) -> ClientName {
        do { return try ClientName(string) } catch { fatalError("bad fixture name \(string): \(error)") }
    }

    /// Refusals are logged at notice; the tests need none of them.
    static let quiet = Logger(label: "recorderfs-fuse-tests") { _ in SwiftLogNoOpLogHandler() }

    /// A drive that describes itself fully.
    static let described: DriveDescription = {
        var description = DriveDescription()
        description.vendor = "HL-DT-ST"
        description.model = "DVDRAM GH24NSD1"
        description.revision = "LG00"
        description.serial = "K1LG4AH2158"
        description.capabilities = ["cd_r", "cd_rw", "dvd_r"]
        description.media = "blank"
        description.genericNode = "/dev/sg1"
        description.stableID = "HL-DT-ST_DVDRAM_GH24NSD1_K1LG4AH2158"
        return description
    }()

    /// A file system over one recorder `sr0` (slot 0) on `drive`.
    static func fileSystem(drive: FakeDrive = FakeDrive(), generationBase: UInt64 = 0,
                           limits: UsageLimits = UsageLimits())
        -> (RecorderFileSystem, Recorder, FakeDrive) {
        let recorders = RecorderSet()
        let events = EventHub()
        let recorder = Recorder(name: "sr0", drive: drive, limits: limits, generationBase: generationBase,
                                observer: events, logger: quiet)
        recorders.add(recorder, stableID: drive.description.stableID)
        let fileSystem = RecorderFileSystem(recorders: recorders, limits: limits, events: events, logger: quiet)
        return (fileSystem, recorder, drive)
    }
}

extension RecorderFileSystem {
    /// What a read of `file` shows now, as text; nil (and an issue) when it fails.
    func text(_ file: RecorderFile, _ recorder: Recorder, sourceLocation: SourceLocation = #_sourceLocation) -> String? {
        do {
            return String(decoding: try content(of: file, recorder), as: UTF8.self)
        } catch {
            Issue.record("reading \(file.name) failed: \(error)", sourceLocation: sourceLocation)
            return nil
        }
    }
}

/// The wall clock, in seconds (CLOCK_REALTIME), as the core stamps `since`.
func epochSecond() -> Int {
    var now = timespec()
    clock_gettime(CLOCK_REALTIME, &now)
    return now.tv_sec
}
