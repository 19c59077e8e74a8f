import Foundation
import Testing
@testable import RecorderCore

/// One record of `holders` without its time, to compare exactly.
struct HolderRow: Equatable, CustomStringConvertible {
    var name: ClientName
    var pid: Int32
    var uid: UInt32
    var count: Int

    init(_ name: ClientName, _ caller: Caller, count: Int) {
        self.name = name
        pid = caller.pid
        uid = caller.uid
        self.count = count
    }

    init(_ record: HandleRecord) {
        name = record.name
        pid = record.pid
        uid = record.uid
        count = record.count
    }

    var description: String { "\(name) pid=\(pid) uid=\(uid) count=\(count)" }
}

/// The wall clock in seconds, as `since` is taken. Not time(3): glibc
/// reads a coarse clock there that may still show the previous second.
func epochSecond() -> Int {
    var now = timespec()
    clock_gettime(CLOCK_REALTIME, &now)
    return now.tv_sec
}

extension Recorder {
    /// The records of `holders`, which must be readable, checked against the
    /// snapshot: one handle, one holder, so at most one record; its count is
    /// `lockCount`, and its `since` is a plausible wall-clock second (not in
    /// the future, not before `earliest`).
    func holderRows(since earliest: Int, sourceLocation: SourceLocation = #_sourceLocation) -> [HolderRow] {
        do {
            let records = try holders()
            let snapshot = try snapshot()
            let now = epochSecond()
            #expect(records.count <= 1, "\(records)", sourceLocation: sourceLocation)
            #expect(records.map(\.count).reduce(0, +) == snapshot.lockCount, sourceLocation: sourceLocation)
            for record in records {
                #expect(record.name == snapshot.holder?.name, sourceLocation: sourceLocation)
                #expect(record.count > 0, sourceLocation: sourceLocation)
                #expect(earliest <= record.since && record.since <= now, "since \(record.since)",
                        sourceLocation: sourceLocation)
            }
            return records.map(HolderRow.init)
        } catch {
            Issue.record("holders failed: \(error)", sourceLocation: sourceLocation)
            return []
        }
    }
}

/// Issue C: `holders`, one record per handle that holds locks; since issue I
/// (one handle, one holder) at most one.
@Suite("Holders")
struct HoldersTests {
    typealias F = Fixture

    static let carol = Caller(pid: 300, uid: 1000, gid: 1000)

    @Test func aFreeRecorderHasNoHolders() throws {
        let (recorder, _) = F.recorder()
        #expect(try recorder.holders() == [])
    }

    @Test func nestingOnOneHandleIsOneRecord() throws {
        let (recorder, _) = F.recorder()
        let handle = recorder.makeHandle()
        let start = epochSecond()
        try handle.acquire(F.appA, caller: F.alice, force: false)
        try handle.acquire(F.appA, caller: F.alice, force: false)
        let records = try recorder.holders()

        // The pid is the one of the first lock, also when another process of
        // the same user nests through an inherited descriptor.
        try handle.acquire(F.appA, caller: F.aliceAgain, force: true)

        #expect(records.count == 1)
        #expect(records.first.map(HolderRow.init) == HolderRow(F.appA, F.alice, count: 2))
        #expect(recorder.holderRows(since: start) == [HolderRow(F.appA, F.alice, count: 3)])
        // `since` is the time of the first lock: nesting does not move it.
        #expect(try recorder.holders().first?.since == records.first?.since)
    }

    /// A second handle of the same name and uid is refused: still one
    /// record, the first handle's, with its own count.
    @Test func twoHandlesAreStillOneRecord() throws {
        let (recorder, _) = F.recorder()
        let start = epochSecond()
        let first = recorder.makeHandle()
        let second = recorder.makeHandle()
        try first.acquire(F.appA, caller: F.alice, force: false)
        expectFailure(.busy) { () throws(RecorderError) in
            try second.acquire(F.appA, caller: F.aliceAgain, force: false)
        }
        expectFailure(.busy) { () throws(RecorderError) in
            try second.acquire(F.appA, caller: F.aliceAgain, force: false)
        }
        try first.acquire(F.appA, caller: F.alice, force: false)

        #expect(recorder.holderRows(since: start) == [HolderRow(F.appA, F.alice, count: 2)])
        #expect(!second.holdsLocks)
    }

    /// The record is that of the handle that took the first lock, not of the
    /// first open(2): a handle opened early and written late is refused.
    @Test func theRecordIsByFirstLockNotByOpen() throws {
        let (recorder, _) = F.recorder()
        let start = epochSecond()
        let openedFirst = recorder.makeHandle()
        let openedSecond = recorder.makeHandle()
        try openedSecond.acquire(F.appA, caller: F.aliceAgain, force: false)
        expectFailure(.busy) { () throws(RecorderError) in
            try openedFirst.acquire(F.appA, caller: F.alice, force: false)
        }

        #expect(recorder.holderRows(since: start) == [HolderRow(F.appA, F.aliceAgain, count: 1)])
    }

    @Test func releaseDropsCountsAndARecordAtZero() throws {
        let (recorder, _) = F.recorder()
        let start = epochSecond()
        let first = recorder.makeHandle()
        let second = recorder.makeHandle()
        try first.acquire(F.appA, caller: F.alice, force: false)
        try first.acquire(F.appA, caller: F.aliceAgain, force: false)
        try first.acquire(F.appA, caller: F.aliceAgain, force: false)
        expectFailure(.busy) { () throws(RecorderError) in
            try second.acquire(F.appA, caller: F.aliceAgain, force: false)
        }

        // release drops the most recent lock; the record stays the first lock's.
        try recorder.release(F.appA, caller: F.alice)
        #expect(recorder.holderRows(since: start) == [HolderRow(F.appA, F.alice, count: 2)])
        try recorder.release(F.appA, caller: F.root)
        #expect(recorder.holderRows(since: start) == [HolderRow(F.appA, F.alice, count: 1)])
        try recorder.release(F.appA, caller: F.alice)
        #expect(recorder.holderRows(since: start) == [])
        #expect(recorder.state() == free)

        // The released handle stays open and can lock again: a new record.
        try second.acquire(F.appB, caller: F.bob, force: false)
        #expect(recorder.holderRows(since: start) == [HolderRow(F.appB, F.bob, count: 1)])
    }

    @Test func closingAHandleDropsItsRecord() throws {
        let (recorder, _) = F.recorder()
        let start = epochSecond()
        let first = recorder.makeHandle()
        let second = recorder.makeHandle()
        let third = recorder.makeHandle()
        try first.acquire(F.appA, caller: F.alice, force: false)
        try first.acquire(F.appA, caller: F.aliceAgain, force: false)
        expectFailure(.busy) { () throws(RecorderError) in
            try second.acquire(F.appA, caller: F.aliceAgain, force: false)
        }
        expectFailure(.busy) { () throws(RecorderError) in
            try third.acquire(F.appA, caller: Self.carol, force: false)
        }

        // Closing a refused handle leaves the record as it is.
        second.closed()
        #expect(recorder.holderRows(since: start) == [HolderRow(F.appA, F.alice, count: 2)])
        first.closed()
        #expect(recorder.holderRows(since: start) == [])
        #expect(recorder.state() == free)
        // The next handle to lock has the record.
        try third.acquire(F.appA, caller: Self.carol, force: false)
        #expect(recorder.holderRows(since: start) == [HolderRow(F.appA, Self.carol, count: 1)])
        third.closed()
        #expect(recorder.holderRows(since: start) == [])
        #expect(recorder.state() == free)
    }

    /// A refused writer adds no record, and a handle without locks has none.
    @Test func refusedAndIdleHandlesHaveNoRecord() throws {
        let (recorder, _) = F.recorder()
        let start = epochSecond()
        let holder = recorder.makeHandle()
        _ = recorder.makeHandle()
        try holder.acquire(F.appA, caller: F.alice, force: false)
        expectFailure(.busy) { () throws(RecorderError) in
            try recorder.makeHandle().acquire(F.appB, caller: F.bob, force: false)
        }
        #expect(recorder.holderRows(since: start) == [HolderRow(F.appA, F.alice, count: 1)])
    }

    @Test func holdersOfARemovedRecorderIsNoDevice() throws {
        let (recorder, _) = F.recorder()
        try recorder.makeHandle().acquire(F.appA, caller: F.alice, force: false)
        recorder.remove()
        expectFailure(.noDevice) { () throws(RecorderError) in try recorder.holders() }
    }
}
