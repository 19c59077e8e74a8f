import Testing
@testable import RecorderCore

/// The hotplug thread reads ACTION and DEVNAME of a waiting uevent without
/// libudev, to ignore the change that follows each release cheaply.
@Suite("Uevent peek")
struct UeventPeekTests {
    static func parse(_ fields: [String]) -> (UdevMonitor.Action, String)? {
        let bytes = Array(fields.joined(separator: "\0").utf8) + [0]
        return bytes.withUnsafeBufferPointer { UdevMonitor.actionAndName($0) }
    }

    @Test func theKernelsMessage() {
        let parsed = Self.parse(["change@/devices/virtual/block/loop3", "ACTION=change", "DEVPATH=/devices/virtual/block/loop3",
                                 "SUBSYSTEM=block", "SYNTH_UUID=0", "MAJOR=7", "MINOR=3", "DEVNAME=loop3", "DEVTYPE=disk", "SEQNUM=4711"])
        #expect(parsed?.0 == .change && parsed?.1 == "loop3")
    }

    @Test func udevsMessage() {
        // udev's header is binary; its properties are NUL-separated like the kernel's.
        let parsed = Self.parse(["libudev", "\u{1}\u{2}", "ACTION=remove", "DEVNAME=/dev/sr0", "ID_CDROM=1"])
        #expect(parsed?.0 == .remove && parsed?.1 == "sr0")
        #expect(Self.parse(["add@/devices/x", "ACTION=add", "DEVNAME=/dev/sr1"])?.0 == .add)
    }

    @Test func aMessageWithoutBothIsNothing() {
        #expect(Self.parse(["ACTION=change", "DEVPATH=/devices/virtual/block/loop3"]) == nil)
        #expect(Self.parse(["DEVNAME=loop3"]) == nil)
        #expect(Self.parse([]) == nil)
    }
}
