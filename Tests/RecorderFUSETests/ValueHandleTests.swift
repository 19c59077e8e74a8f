import RecorderCore
@testable import RecorderFUSE
import Synchronization
import Testing

/// One open of a value file: read anew at offset 0, kept only while a read
/// leaves part of it unread, so a value read in pieces is never torn; and
/// poll(2)'s change detection.
@Suite("Value handle")
struct ValueHandleTests {
    /// A value that changes when told, counting how often it was rendered.
    final class Source: Sendable {
        private let state = Mutex((value: "", renders: 0, failure: RecorderError?.none))

        init(_ value: String) { state.withLock { $0.value = value } }

        func set(_ value: String) { state.withLock { $0.value = value } }
        func fail(_ error: RecorderError?) { state.withLock { $0.failure = error } }
        var renders: Int { state.withLock { $0.renders } }

        func render() throws(RecorderError) -> [UInt8] {
            try state.withLock { (state) throws(RecorderError) -> [UInt8] in
                if let failure = state.failure { throw failure }
                state.renders += 1
                return Array(state.value.utf8)
            }
        }
    }

    static func read(_ handle: ValueHandle, _ source: Source, at offset: Int, count: Int,
                     sourceLocation: SourceLocation = #_sourceLocation) -> String? {
        do {
            let bytes = try handle.read(at: offset, count: count) { () throws(RecorderError) in try source.render() }
            return String(decoding: bytes, as: UTF8.self)
        } catch {
            Issue.record("read failed: \(error)", sourceLocation: sourceLocation)
            return nil
        }
    }

    @Test func aWholeReadRendersOnceAndKeepsNothing() {
        let source = Source("AppA\n")
        let handle = ValueHandle(uid: 0, limits: UsageLimits(), changes: 0)
        #expect(Self.read(handle, source, at: 0, count: 4096) == "AppA\n")
        #expect(source.renders == 1)
        // Nothing kept: a read past the end renders anew, and finds nothing there.
        #expect(Self.read(handle, source, at: 5, count: 4096) == "")
        #expect(source.renders == 2)
    }

    /// The value changes between two pieces: the second piece is still the
    /// first value's.
    @Test func piecesAreNeverTorn() {
        let source = Source("LongHolderName\n")
        let handle = ValueHandle(uid: 0, limits: UsageLimits(), changes: 0)
        #expect(Self.read(handle, source, at: 0, count: 4) == "Long")
        source.set("Other\n")
        #expect(Self.read(handle, source, at: 4, count: 6) == "Holder")
        #expect(Self.read(handle, source, at: 10, count: 100) == "Name\n")
        #expect(source.renders == 1)
        // Read to its end, the value is let go: offset 0 shows the new one.
        #expect(Self.read(handle, source, at: 0, count: 100) == "Other\n")
        #expect(source.renders == 2)
    }

    /// A read that reaches exactly the end keeps nothing either.
    @Test func aReadToTheExactEndKeepsNothing() {
        let source = Source("12345")
        let handle = ValueHandle(uid: 0, limits: UsageLimits(), changes: 0)
        #expect(Self.read(handle, source, at: 0, count: 2) == "12")
        #expect(Self.read(handle, source, at: 2, count: 3) == "345")
        #expect(source.renders == 1)
        source.set("abcdefgh")
        #expect(Self.read(handle, source, at: 5, count: 3) == "fgh")
        #expect(source.renders == 2)
    }

    /// Offset 0 always renders anew, even with a piece kept.
    @Test func offsetZeroRendersAnew() {
        let source = Source("first value\n")
        let handle = ValueHandle(uid: 0, limits: UsageLimits(), changes: 0)
        #expect(Self.read(handle, source, at: 0, count: 5) == "first")
        source.set("second value\n")
        #expect(Self.read(handle, source, at: 0, count: 6) == "second")
        #expect(source.renders == 2)
    }

    @Test func aFailureIsTheReadsError() {
        let source = Source("AppA\n")
        source.fail(.noDevice)
        let handle = ValueHandle(uid: 0, limits: UsageLimits(), changes: 0)
        do {
            _ = try handle.read(at: 0, count: 10) { () throws(RecorderError) in try source.render() }
            Issue.record("the read succeeded")
        } catch {
            #expect(error == .noDevice)
        }
    }

    /// Before its first read, a handle tells a change of the recorder since
    /// its open.
    @Test func beforeTheFirstReadTheChangeCountTells() {
        let source = Source("AppA\n")
        let handle = ValueHandle(uid: 0, limits: UsageLimits(), changes: 5)
        let render = { () throws(RecorderError) in try source.render() }
        #expect(!handle.changed(since: 5, content: render))
        #expect(handle.changed(since: 6, content: render))
        #expect(source.renders == 0)
    }

    /// After a read, the content tells: a change that comes back to what was
    /// read is no change.
    @Test func afterAReadTheContentTells() {
        let source = Source("AppA\n")
        let handle = ValueHandle(uid: 0, limits: UsageLimits(), changes: 5)
        let render = { () throws(RecorderError) in try source.render() }
        #expect(Self.read(handle, source, at: 0, count: 100) == "AppA\n")
        #expect(!handle.changed(since: 9, content: render))
        source.set("AppB\n")
        #expect(handle.changed(since: 9, content: render))
        source.set("AppA\n")
        #expect(!handle.changed(since: 10, content: render))
        source.set("")
        #expect(handle.changed(since: 11, content: render))
        // Reading again makes the new value the one seen.
        #expect(Self.read(handle, source, at: 0, count: 100) == "")
        #expect(!handle.changed(since: 11, content: render))
    }

    /// Only a read from offset 0 is what the handle saw.
    @Test func aLaterPieceDoesNotChangeWhatWasSeen() {
        let source = Source("AppA\n")
        let handle = ValueHandle(uid: 0, limits: UsageLimits(), changes: 0)
        let render = { () throws(RecorderError) in try source.render() }
        #expect(Self.read(handle, source, at: 0, count: 2) == "Ap")
        source.set("AppB\n")
        #expect(Self.read(handle, source, at: 2, count: 100) == "pA\n")
        #expect(handle.changed(since: 0, content: render))
    }

    /// A value that cannot be read any more (the recorder went away) is a change.
    @Test func aFailureIsAChange() {
        let source = Source("AppA\n")
        let handle = ValueHandle(uid: 0, limits: UsageLimits(), changes: 0)
        #expect(Self.read(handle, source, at: 0, count: 100) == "AppA\n")
        source.fail(.noDevice)
        #expect(handle.changed(since: 0) { () throws(RecorderError) in try source.render() })
    }

    @Test func theHashIsFNV1a() {
        #expect(ValueHandle.hash([]) == 0xcbf2_9ce4_8422_2325)
        #expect(ValueHandle.hash(Array("a".utf8)) == 0xaf63_dc4c_8601_ec8c)
        #expect(ValueHandle.hash(Array("foobar".utf8)) == 0x8594_4171_f739_67e8)
    }

    @Test func closingGivesBackTheHandle() throws {
        let limits = UsageLimits(handlesPerUser: 1)
        try limits.openHandle(uid: 1000)
        let handle = ValueHandle(uid: 1000, limits: limits, changes: 0)
        #expect(limits.usage(of: 1000).handles == 1)
        handle.closed()
        #expect(limits.usage(of: 1000).handles == 0)
        try limits.openHandle(uid: 1000)
    }
}
