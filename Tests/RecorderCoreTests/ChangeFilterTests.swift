#if canImport(Glibc)
import Glibc
#endif
import Testing
@testable import RecorderCore

/// The socket filter that drops the change uevents of the recorders in the
/// kernel, run by the kernel on a datagram socket pair.
@Suite("The filter of the hotplug socket")
struct ChangeFilterTests {
    /// Which of `messages` the kernel lets through to a socket with the filter
    /// that drops the changes of `devpaths`.
    func passed(_ messages: [String], dropping devpaths: [String]) throws -> [String] {
        var ends: [Int32] = [-1, -1]
        try #require(socketpair(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0, &ends) == 0)
        defer { close(ends[0]); close(ends[1]) }
        let attached = ChangeFilter.attach(dropping: devpaths, to: ends[1])
        try #require(attached, "the kernel refused the filter: \(String(cString: strerror(errno)))")
        for message in messages {
            _ = message.utf8CString.withUnsafeBufferPointer { bytes in
                // The message as the kernel sends it: NULs are its separators.
                send(ends[0], bytes.baseAddress, bytes.count - 1, 0)
            }
        }
        var received: [String] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while case let count = recv(ends[1], &buffer, buffer.count, Int32(MSG_DONTWAIT)), count >= 0 {
            received.append(String(decoding: buffer[0..<count], as: UTF8.self))
        }
        return received
    }

    /// A kernel uevent message, its fields separated by NULs.
    func uevent(_ action: String, _ devpath: String) -> String {
        "\(action)@\(devpath)\0ACTION=\(action)\0DEVPATH=\(devpath)\0SUBSYSTEM=block\0"
    }

    @Test("the change of a listed device is dropped; its add and remove, and every other device's, pass")
    func dropsOnlyListedChanges() throws {
        // Devpaths whose length with the NUL leaves 0, 1, 2 and 3 bytes after the words.
        let listed = ["/devices/virtual/block/loop0", "/devices/virtual/block/loop10", "/d/block/sr0",
                      "/devices/pci0000:00/0000:00:1f.2/ata1/host0/target0:0:0/0:0:0:0/block/sr1"]
        for devpath in listed {
            #expect(try passed([uevent("change", devpath)], dropping: listed) == [], "\(devpath)")
        }
        let passing = [
            uevent("add", "/devices/virtual/block/loop0"),
            uevent("remove", "/devices/virtual/block/loop0"),
            uevent("change", "/devices/virtual/block/loop01"),
            uevent("change", "/devices/virtual/block/loop"),
            uevent("change", "/devices/virtual/block/loop1"),
            uevent("change", "/d/block/sr"),
            "change@/devices/virtual/block/loop0",  // no NUL: shorter than a match
            "change",
        ]
        #expect(try passed(passing, dropping: listed) == passing)
    }

    @Test("with no devpath, or one too long to compare, every message passes")
    func nothingListed() throws {
        let messages = [uevent("change", "/devices/virtual/block/loop0"), uevent("add", "/devices/virtual/block/loop0")]
        #expect(try passed(messages, dropping: []) == messages)
        let long = "/devices/" + String(repeating: "x", count: 600) + "/block/sr0"
        #expect(ChangeFilter.program(dropping: [long]).count == ChangeFilter.program(dropping: []).count)
        #expect(try passed([uevent("change", long)], dropping: [long]) == [uevent("change", long)])
    }

    @Test("the program stays within what the kernel takes however many devices are listed")
    func bounded() throws {
        let many = (0..<500).map { "/devices/pci0000:00/0000:00:1f.2/ata1/host0/target0:0:0/0:0:0:\($0)/block/sr\($0)" }
        let program = ChangeFilter.program(dropping: many)
        #expect(program.count <= ChangeFilter.maximumLength)
        // The first ones are dropped, the ones that did not fit pass.
        #expect(try passed([uevent("change", many[0])], dropping: many) == [])
        #expect(try passed([uevent("change", many[499])], dropping: many) == [uevent("change", many[499])])

    }
}
