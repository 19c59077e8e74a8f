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
