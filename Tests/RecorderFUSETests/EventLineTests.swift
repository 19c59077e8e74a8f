#if canImport(Glibc)
import Glibc
#endif
import RecorderCore
@testable import RecorderFUSE
import Testing

/// The lines of `MOUNT/events`:
/// `RFC3339 RECORDER EVENT NAME pid=PID uid=UID gen=N[ holder=NAME]`.
@Suite("Event lines")
struct EventLineTests {
    /// A line, split into its timestamp and the rest; checks the newline.
    static func split(_ line: [UInt8], sourceLocation: SourceLocation = #_sourceLocation) -> (String, String)? {
        let text = String(decoding: line, as: UTF8.self)
        #expect(text.hasSuffix("\n"), "\(text)", sourceLocation: sourceLocation)
        #expect(text.filter { $0 == "\n" }.count == 1, "\(text)", sourceLocation: sourceLocation)
        guard let space = text.firstIndex(of: " ") else {
            Issue.record("no space in \(text)", sourceLocation: sourceLocation)
            return nil
        }
        return (String(text[..<space]), String(text[text.index(after: space)...].dropLast()))
    }

    static let cases: [(RecorderEvent, String)] = [
        (RecorderEvent(kind: .lock, recorder: "sr0", name: Fixture.appA, pid: 100, uid: 1000, generation: 8),
         "sr0 lock AppA pid=100 uid=1000 gen=8"),
        (RecorderEvent(kind: .nest, recorder: "sr0", name: Fixture.appA, pid: 101, uid: 1000, generation: 8),
         "sr0 nest AppA pid=101 uid=1000 gen=8"),
        (RecorderEvent(kind: .unlock, recorder: "sr0", name: Fixture.appA, pid: 0, uid: 0, generation: 8),
         "sr0 unlock AppA pid=0 uid=0 gen=8"),
        (RecorderEvent(kind: .free, recorder: "sr1", name: Fixture.appA, pid: 100, uid: 1000, generation: 9),
         "sr1 free AppA pid=100 uid=1000 gen=9"),
        (RecorderEvent(kind: .refused, recorder: "sr0", name: Fixture.appB, pid: 200, uid: 1001, generation: 8,
                       holder: Fixture.appA),
         "sr0 refused AppB pid=200 uid=1001 gen=8 holder=AppA"),
        (RecorderEvent(kind: .added, recorder: "sr0", name: nil, pid: 0, uid: 0, generation: 1_780_000_000_000_000),
         "sr0 added - pid=0 uid=0 gen=1780000000000000"),
        (RecorderEvent(kind: .removed, recorder: "sr2", name: nil, pid: 0, uid: 0, generation: 3),
         "sr2 removed - pid=0 uid=0 gen=3"),
    ]

    @Test func everyKindIsCovered() {
        let kinds: [RecorderEvent.Kind] = [.lock, .nest, .unlock, .free, .refused, .added, .removed]
        #expect(Set(Self.cases.map(\.0.kind.rawValue)) == Set(kinds.map(\.rawValue)))
    }

    @Test(arguments: cases.indices)
    func eachKind(index: Int) throws {
        let (event, expected) = Self.cases[index]
        let (_, rest) = try #require(Self.split(EventHub.line(event)))
        #expect(rest == expected)
    }

    /// RFC 3339, UTC, to the microsecond, and now.
    @Test func theTimestamp() throws {
        let before = epochSecond()
        let (stamp, _) = try #require(Self.split(EventHub.line(Self.cases[0].0)))
        let after = epochSecond()
        #expect(stamp.count == "2026-12-01T23:00:55.123456Z".count, "\(stamp)")
        let digits = stamp.enumerated().filter { ![4, 7, 10, 13, 16, 19, 26].contains($0.offset) }.map(\.element)
        #expect(digits.allSatisfy { $0.isNumber }, "\(stamp)")
        #expect(Array(stamp)[4] == "-" && Array(stamp)[7] == "-" && Array(stamp)[10] == "T")
        #expect(Array(stamp)[13] == ":" && Array(stamp)[16] == ":" && Array(stamp)[19] == "." && stamp.last == "Z")
        // To the second, the same clock as `since` of holders.
        let seconds = String(stamp.prefix(19)) + "Z"
        #expect(HandleRecord.rfc3339(before) <= seconds && seconds <= HandleRecord.rfc3339(after), "\(stamp)")
    }

    /// A reader of `events` becomes readable with the first event, and a
    /// refusal wakes no poller of value files but is still a line.
    @Test func aReaderIsReadableAfterAnEvent() {
        let hub = EventHub()
        let limits = UsageLimits()
        let reader = EventsReader(uid: 0, limits: limits)
        hub.add(reader)
        #expect(reader.poll(nil) == 0)
        hub.recorderChanged(Self.cases[4].0)
        #expect(reader.poll(nil) == Int32(POLLIN | POLLRDNORM))
        hub.remove(reader)
        reader.closed()
    }

    /// The events of a recorder reach the hub it was given.
    @Test func aRecordersLocksReachTheHub() throws {
        let (fs, recorder, _) = Fixture.fileSystem()
        let reader = EventsReader(uid: 0, limits: fs.limits)
        fs.events.add(reader)
        #expect(reader.poll(nil) == 0)
        let handle = recorder.makeHandle()
        try handle.acquire(Fixture.appA, caller: Fixture.alice, force: false)
        #expect(reader.poll(nil) == Int32(POLLIN | POLLRDNORM))
        handle.closed()
        fs.events.remove(reader)
        reader.closed()
    }
}
