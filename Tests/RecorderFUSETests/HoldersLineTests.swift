import RecorderCore
@testable import RecorderFUSE
import Testing

/// `holders`: one line per handle that holds locks, oldest first:
/// `NAME pid=PID uid=UID count=N since=RFC3339`.
@Suite("Holders line")
struct HoldersLineTests {
    @Test func oneLinePerHoldingHandle() throws {
        let (fs, recorder, _) = Fixture.fileSystem()
        let before = epochSecond()
        let handle = recorder.makeHandle(countedFor: Fixture.alice.uid)
        try handle.acquire(Fixture.appA, caller: Fixture.alice, force: false)
        try handle.acquire(Fixture.appA, caller: Fixture.alice, force: false)
        let after = epochSecond()
        let text = try #require(fs.text(.holders, recorder))
        let prefix = "AppA pid=100 uid=1000 count=2 since="
        #expect(text.hasPrefix(prefix), "\(text)")
        #expect(text.hasSuffix("Z\n"))
        #expect(text.filter { $0 == "\n" }.count == 1)
        let since = String(text.dropFirst(prefix.count).dropLast())
        #expect(since.count == "2026-11-25T15:00:44Z".count, "\(since)")
        // RFC 3339 in UTC sorts as time does.
        #expect(HandleRecord.rfc3339(before) <= since && since <= HandleRecord.rfc3339(after), "\(since)")
        handle.closed()
    }

    /// A descriptor passed to another user nests: the record keeps the pid
    /// and uid of the first lock.
    @Test func theRecordIsTheFirstLocks() throws {
        let (fs, recorder, _) = Fixture.fileSystem()
        let handle = recorder.makeHandle(countedFor: Fixture.alice.uid)
        try handle.acquire(Fixture.appA, caller: Fixture.alice, force: false)
        try handle.acquire(Fixture.appA, caller: Fixture.bob, force: false)
        let text = try #require(fs.text(.holders, recorder))
        #expect(text.hasPrefix("AppA pid=100 uid=1000 count=2 since="), "\(text)")
        handle.closed()
    }

    @Test func rfc3339IsUTCToTheSecond() {
        #expect(HandleRecord.rfc3339(0) == "1970-01-01T00:00:00Z")
        #expect(HandleRecord.rfc3339(1_700_000_000) == "2023-11-14T22:13:20Z")
        #expect(HandleRecord.rfc3339(951_868_799) == "2000-02-29T23:59:59Z")
    }
}
