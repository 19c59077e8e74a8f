#if canImport(Glibc)
import Glibc
#endif
import Testing
@testable import RecorderCore

/// The holders line: one formatter, one parser (issue J6).
@Suite("The holders line")
struct HolderLineTests {
    @Test("a record is written as NAME pid= uid= count= since= and parsed back to itself")
    func roundTrip() throws {
        let record = HandleRecord(name: try ClientName("My  App, v2: x;y-z_"), pid: 4242, uid: 1000, count: 2,
                                  since: 1_795_618_971)
        #expect(record.line == "My  App, v2: x;y-z_ pid=4242 uid=1000 count=2 since=2026-11-25T15:02:51Z")
        #expect(HandleRecord(line: record.line) == record)
        #expect(HandleRecord(line: record.line + "\n") == record)
    }

    @Test("RFC 3339 times are written and read in UTC")
    func times() {
        #expect(HandleRecord.rfc3339(0) == "1970-01-01T00:00:00Z")
        #expect(HandleRecord.seconds(rfc3339: "1970-01-01T00:00:00Z") == 0)
        #expect(HandleRecord.seconds(rfc3339: "2026-11-25T15:02:51Z") == 1_795_618_971)
        for text in ["2026-11-25 15:02:51Z", "2026-11-25T15:02:51", "2026-13-25T15:02:51Z", "2026-11-25T15:02:51+01:00", ""] {
            #expect(HandleRecord.seconds(rfc3339: text) == nil, "\(text)")
        }
    }

    @Test("lines that are not holders lines are refused")
    func refused() {
        for line in ["", "MyApp", "MyApp pid=1 uid=0 count=1", "MyApp pid=1 uid=0 count=1 since=2026-11-25T15:02:51Z extra",
                     "MyApp uid=0 pid=1 count=1 since=2026-11-25T15:02:51Z", " pid=1 uid=0 count=1 since=2026-11-25T15:02:51Z",
                     "a/b pid=1 uid=0 count=1 since=2026-11-25T15:02:51Z", "MyApp pid=x uid=0 count=1 since=2026-11-25T15:02:51Z"] {
            #expect(HandleRecord(line: line) == nil, "\(line)")
        }
    }
}

/// Issue G: `holders` read in another pid namespace.
@Suite("Pids across pid namespaces")
struct PidNamespaceTests {
    @Test func aHolderOutsideTheReadersNamespaceIsPidDash() throws {
        let record = HandleRecord(name: try ClientName("Outside"), pid: 0, uid: 0, count: 1, since: 1_796_175_000)
        #expect(record.line == "Outside pid=- uid=0 count=1 since=2026-12-02T01:30:00Z")
        #expect(HandleRecord(line: record.line) == record)
    }

    @Test func theNSpidLine() {
        #expect(PidNamespace.nsPIDs(inStatus: "Name:\tsh\nTgid:\t4242\nNSpid:\t4242\t1\nNSpgid:\t4242\t1\n") == [4242, 1])
        #expect(PidNamespace.nsPIDs(inStatus: "Name:\tsh\nNSpid:\t77\n") == [77])
        #expect(PidNamespace.nsPIDs(inStatus: "Name:\tsh\n") == nil)
    }

    @Test func aReaderInTheDaemonsNamespaceSeesThePidAsItIs() {
        let me = getpid()
        #expect(PidNamespace.pid(me, asSeenBy: me) == me)
    }
}
