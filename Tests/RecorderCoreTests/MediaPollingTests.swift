#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing
@testable import RecorderCore

/// Media polling paused while locked (docs/design.md §4), through a sysfs
/// directory the test makes: the attribute is a plain file there.
@Suite("Media polling")
struct MediaPollingTests {
    /// A scratch sysfs device directory with `events_poll_msecs`, and a
    /// records directory.
    final class Scratch {
        let root: String
        var sysfs: String { "\(root)/sys" }
        var device: String { "\(root)/sys/dev/block/11:0" }
        var records: String { "\(root)/run/polling" }
        var attribute: String { "\(device)/events_poll_msecs" }

        init(interval: String?) throws {
            root = FileManager.default.temporaryDirectory.appendingPathComponent("polling-\(UUID().uuidString)").path
            try FileManager.default.createDirectory(atPath: device, withIntermediateDirectories: true)
            if let interval { try Data(interval.utf8).write(to: URL(fileURLWithPath: attribute)) }
        }

        func value() -> String? { try? String(contentsOfFile: attribute, encoding: .utf8) }

        /// A record as a killed daemon leaves it, named `name` (by default
        /// the attribute's), that `interval` is to be written back.
        func leaveRecord(_ interval: String, named name: String? = nil) throws {
            try FileManager.default.createDirectory(atPath: records, withIntermediateDirectories: true)
            let file = "\(records)/\(name ?? MediaPolling.recordName(attribute))"
            try Data("\(attribute)\n\(interval)\n".utf8).write(to: URL(fileURLWithPath: file))
        }

        func recordFiles() -> [String] { (try? FileManager.default.contentsOfDirectory(atPath: records)) ?? [] }

        deinit { try? FileManager.default.removeItem(atPath: root) }
    }

    @Test func pausedWhileLockedAndRestoredAfter() throws {
        let scratch = try Scratch(interval: "2000\n")
        let polling = MediaPolling(directory: scratch.device, records: scratch.records)
        #expect(polling.pause() == .paused("2000"))
        #expect(scratch.value() == "0\n")
        #expect(polling.isPaused)
        // The record names the attribute and the interval to write back.
        #expect(scratch.recordFiles() == [MediaPolling.recordName(scratch.attribute)])
        let record = try String(contentsOfFile: "\(scratch.records)/\(scratch.recordFiles()[0])", encoding: .utf8)
        #expect(record == "\(scratch.attribute)\n2000\n")
        // A second pause (a nested claim never makes one) changes nothing.
        #expect(polling.pause() == .nothingToPause)
        polling.resume()
        #expect(scratch.value() == "2000\n")
        #expect(scratch.recordFiles().isEmpty)
        #expect(!polling.isPaused)
        polling.resume()
        #expect(scratch.value() == "2000\n")
    }

    /// A device not polled (0), one without the attribute, and one whose
    /// value is no number are left alone, with no record.
    @Test(arguments: ["0\n", nil, "garbage\n"])
    func nothingToPause(interval: String?) throws {
        let scratch = try Scratch(interval: interval)
        let polling = MediaPolling(directory: scratch.device, records: scratch.records)
        #expect(polling.pause() == .nothingToPause)
        #expect(scratch.value() == interval)
        #expect(scratch.recordFiles().isEmpty)
        polling.resume()
        #expect(scratch.value() == interval)
    }

    /// While one daemon keeps the drive paused, another neither pauses it
    /// again (it would record 0) nor restores it at its start.
    @Test func aLiveDaemonsPauseIsLeftAlone() throws {
        let scratch = try Scratch(interval: "-1\n")
        let first = MediaPolling(directory: scratch.device, records: scratch.records)
        let second = MediaPolling(directory: scratch.device, records: scratch.records)
        #expect(first.pause() == .paused("-1"))
        #expect(MediaPolling.restoreLeftovers(in: scratch.records, sysfs: scratch.sysfs) == [])
        // It shows 0, and the first daemon's record is locked: paused elsewhere.
        #expect(second.pause() == .pausedElsewhere)
        // Someone sets it meanwhile: the record is the first daemon's still.
        try Data("500\n".utf8).write(to: URL(fileURLWithPath: scratch.attribute))
        #expect(second.pause() == .pausedElsewhere)
        #expect(scratch.value() == "500\n")
        second.resume()
        #expect(scratch.value() == "500\n")
        first.resume()
        #expect(scratch.value() == "-1\n")
    }

    /// What a killed daemon left: its record is unlocked; the next start
    /// writes the interval back and removes the record. A record whose name
    /// is not its attribute's is removed without writing anything.
    @Test func aKilledDaemonsPauseIsRestoredAtTheNextStart() throws {
        let scratch = try Scratch(interval: "0\n")
        try scratch.leaveRecord("2000")
        try scratch.leaveRecord("5", named: "forged")
        #expect(MediaPolling.restoreLeftovers(in: scratch.records, sysfs: scratch.sysfs) == [scratch.attribute])
        #expect(scratch.value() == "2000\n")
        #expect(scratch.recordFiles().isEmpty)
    }

    /// Nothing is ever written through a symlink, nor to what is not a
    /// regular file: an attribute swapped for a link to another file leaves
    /// that file as it was (the daemon writes as root).
    @Test func aSymlinkedAttributeIsNeverWritten() throws {
        let scratch = try Scratch(interval: nil)
        let victim = "\(scratch.root)/victim"
        try Data("precious\n".utf8).write(to: URL(fileURLWithPath: victim))
        try FileManager.default.createSymbolicLink(atPath: scratch.attribute, withDestinationPath: victim)
        let polling = MediaPolling(directory: scratch.device, records: scratch.records)
        #expect(polling.pause() == .nothingToPause)
        polling.resume()
        // A record that names it, as a killed daemon's would.
        try scratch.leaveRecord("4242")
        #expect(MediaPolling.restoreLeftovers(in: scratch.records, sysfs: scratch.sysfs) == [])
        #expect(try String(contentsOfFile: victim, encoding: .utf8) == "precious\n")
    }

    /// At a start, only the records of attributes under this daemon's sysfs
    /// are restored; those of another root stay for their own daemon; a FIFO
    /// among them neither blocks nor is read.
    @Test func onlyRecordsOfThisSysfsAreRestored() throws {
        let scratch = try Scratch(interval: "0\n")
        try scratch.leaveRecord("2000")
        #expect(mkfifo("\(scratch.records)/fifo", 0o600) == 0)
        #expect(MediaPolling.restoreLeftovers(in: scratch.records, sysfs: "/sys") == [])
        #expect(scratch.value() == "0\n")
        #expect(Set(scratch.recordFiles()) == [MediaPolling.recordName(scratch.attribute), "fifo"])
        #expect(MediaPolling.restoreLeftovers(in: scratch.records, sysfs: scratch.sysfs) == [scratch.attribute])
        #expect(scratch.value() == "2000\n")
        #expect(scratch.recordFiles() == ["fifo"])
    }

    /// A pause that finds a dead daemon's record (not restored yet) keeps
    /// the recorded interval, the one from before any pause: whether polling
    /// was set again by hand (1000) or is still the dead daemon's 0 (a
    /// daemon killed while another ran: the running one adopts its record at
    /// its next lock, so the interval comes back at that release).
    @Test(arguments: ["1000\n", "0\n"])
    func aPauseOverADeadDaemonsRecordKeepsItsInterval(current: String) throws {
        let scratch = try Scratch(interval: current)
        try scratch.leaveRecord("2000")
        let polling = MediaPolling(directory: scratch.device, records: scratch.records)
        #expect(polling.pause() == .paused("2000"))
        #expect(scratch.value() == "0\n")
        polling.resume()
        #expect(scratch.value() == "2000\n")
        #expect(scratch.recordFiles().isEmpty)
    }
}
