#if canImport(Glibc)
import Glibc
#endif
import CFuseShim
import RecorderCore
import Synchronization

/// Where the recorders' events go: every open handle of `MOUNT/events` (one
/// line per event, in a bounded buffer of its own) and the poll(2)ers of
/// the value files, woken when their recorder changes. A reader that does
/// not read costs a lock operation one line appended to its buffer, and
/// nothing once that is full.
public final class EventHub: RecorderObserver {
    /// What one reader may have unread: past it, events are counted, and
    /// the reader gets one `lost N` line in their place.
    static let readerCapacity = 16 * 1024

    private let readers = Mutex<[ObjectIdentifier: EventsReader]>([:])
    private let readerCount = Atomic<Int>(0)
    /// Poll handles of value files waiting for a change, by recorder name
    /// and then by handle.
    private let pollers = Mutex<[String: [ObjectIdentifier: PollHandle]]>([:])
    private let pollerCount = Atomic<Int>(0)

    public init() {}

    public func recorderChanged(_ event: RecorderEvent) {
        if event.kind != .refused { wakePollers(of: event.recorder) }
        guard readerCount.load(ordering: .relaxed) > 0 else { return }
        let line = Self.line(event)
        for reader in readers.withLock({ Array($0.values) }) { reader.append(line) }
    }

    /// A recorder came or went: `added`, `removed`.
    func recorderSetChanged(_ change: RecorderSet.Change, _ recorders: RecorderSet) {
        let event: RecorderEvent
        switch change {
        case .added(let name, let slot):
            let generation = recorders.recorder(slot: slot)?.generation ?? 0
            event = RecorderEvent(kind: .added, recorder: name, name: nil, pid: 0, uid: 0, generation: generation)
        case .removed(let name, _, _, let generation):
            event = RecorderEvent(kind: .removed, recorder: name, name: nil, pid: 0, uid: 0, generation: generation)
        }
        recorderChanged(event)
    }

    // MARK: Readers of `events`

    func add(_ reader: EventsReader) {
        readers.withLock { $0[ObjectIdentifier(reader)] = reader }
        readerCount.add(1, ordering: .relaxed)
    }

    func remove(_ reader: EventsReader) {
        if readers.withLock({ $0.removeValue(forKey: ObjectIdentifier(reader)) }) != nil {
            readerCount.subtract(1, ordering: .relaxed)
        }
    }

    // MARK: Poll of value files

    /// Wakes `handle`'s poller when `recorder` changes next.
    func pollLater(_ handle: AnyObject, of recorder: String, _ pollHandle: PollHandle) {
        let previous = pollers.withLock { pollers -> PollHandle? in
            let previous = pollers[recorder, default: [:]].updateValue(pollHandle, forKey: ObjectIdentifier(handle))
            return previous
        }
        if let previous { previous.destroy() } else { pollerCount.add(1, ordering: .relaxed) }
    }

    /// The handle is closed: its poller is no longer woken.
    func forgetPoller(_ handle: AnyObject, of recorder: String) {
        guard pollerCount.load(ordering: .relaxed) > 0 else { return }
        let pollHandle = pollers.withLock { $0[recorder]?.removeValue(forKey: ObjectIdentifier(handle)) }
        if let pollHandle {
            pollerCount.subtract(1, ordering: .relaxed)
            pollHandle.destroy()
        }
    }

    private func wakePollers(of recorder: String) {
        guard pollerCount.load(ordering: .relaxed) > 0 else { return }
        let woken = pollers.withLock { $0.removeValue(forKey: recorder) } ?? [:]
        pollerCount.subtract(woken.count, ordering: .relaxed)
        for pollHandle in woken.values {
            pollHandle.notify()
        }
    }

    // MARK: Lines

    /// `RFC3339 RECORDER EVENT NAME pid=PID uid=UID gen=N[ holder=NAME]`.
    static func line(_ event: RecorderEvent) -> [UInt8] {
        var line = timestamp()
        line.append(UInt8(ascii: " "))
        line += event.recorder.utf8
        line.append(UInt8(ascii: " "))
        line += event.kind.rawValue.utf8
        line.append(UInt8(ascii: " "))
        line += (event.name?.value ?? "-").utf8
        line += " pid=\(event.pid) uid=\(event.uid) gen=\(event.generation)".utf8
        if let holder = event.holder { line += " holder=\(holder.value)".utf8 }
        line.append(UInt8(ascii: "\n"))
        return line
    }

    /// Now in RFC 3339, UTC, to the microsecond: 2026-12-01T23:00:55.123456Z.
    static func timestamp() -> [UInt8] {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        var seconds = time_t(now.tv_sec)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        var out: [UInt8] = []
        out.reserveCapacity(27)
        func digits(_ value: Int, _ count: Int) {
            var divisor = 1
            for _ in 1..<count { divisor *= 10 }
            var value = value
            while divisor > 0 {
                out.append(UInt8(ascii: "0") + UInt8(value / divisor % 10))
                value %= divisor
                divisor /= 10
            }
        }
        digits(Int(parts.tm_year) + 1900, 4); out.append(UInt8(ascii: "-"))
        digits(Int(parts.tm_mon) + 1, 2); out.append(UInt8(ascii: "-"))
        digits(Int(parts.tm_mday), 2); out.append(UInt8(ascii: "T"))
        digits(Int(parts.tm_hour), 2); out.append(UInt8(ascii: ":"))
        digits(Int(parts.tm_min), 2); out.append(UInt8(ascii: ":"))
        digits(Int(parts.tm_sec), 2); out.append(UInt8(ascii: "."))
        digits(now.tv_nsec / 1000, 6); out.append(UInt8(ascii: "Z"))
        return out
    }
}

/// One open handle of `MOUNT/events`: a pipe of event lines from its open
/// onwards. A read waits (parked, on no thread) while there is nothing to
/// read, unless the handle is non-blocking (EAGAIN); poll(2) tells when
/// there is.
final class EventsReader: Sendable {
    private struct State {
        var buffer: [UInt8] = []
        var lost = 0
        var waiting: [(parked: ParkedRequest, size: Int)] = []
        var pollHandle: PollHandle?
    }

    private let state = Mutex(State())
    /// The uid whose usage the handle counts in.
    let uid: UInt32
    let limits: UsageLimits

    init(uid: UInt32, limits: UsageLimits) {
        self.uid = uid
        self.limits = limits
    }

    static func from(_ handle: UInt64) -> EventsReader? {
        guard let pointer = UnsafeRawPointer(bitPattern: UInt(handle)) else { return nil }
        return Unmanaged<EventsReader>.fromOpaque(pointer).takeUnretainedValue()
    }

    func append(_ line: [UInt8]) {
        let (answers, pollHandle) = state.withLock { state -> ([(ParkedRequest, [UInt8])], PollHandle?) in
            if state.lost == 0 && state.buffer.count + line.count <= EventHub.readerCapacity {
                state.buffer += line
            } else {
                state.lost += 1
            }
            let pollHandle = state.pollHandle
            state.pollHandle = nil
            return (Self.answerWaiting(&state), pollHandle)
        }
        for (parked, bytes) in answers { Self.send(parked, bytes) }
        if let pollHandle {
            pollHandle.notify()
        }
    }

    /// A read of at most `size` bytes: answered now when there is something
    /// to read (or `nonBlocking`: EAGAIN), else parked until there is.
    func read(_ request: consuming Request, size: Int, nonBlocking: Bool) {
        let now = state.withLock { state -> [UInt8]? in
            Self.flushLost(&state)
            return state.buffer.isEmpty ? nil : Self.take(&state, size)
        }
        if let now { return request.reply(data: now[...]) }
        if nonBlocking { return request.fail(EAGAIN) }
        let parked = ParkedRequest.park(request)
        // An event may have come meanwhile: queue, then look again.
        let answers = state.withLock { state -> [(ParkedRequest, [UInt8])] in
            state.waiting.append((parked, max(size, 1)))
            Self.flushLost(&state)
            return Self.answerWaiting(&state)
        }
        for (parked, bytes) in answers { Self.send(parked, bytes) }
        parked.listen { [self] in
            let removed = state.withLock { state -> Bool in
                guard let index = state.waiting.firstIndex(where: { $0.parked === parked }) else { return false }
                state.waiting.remove(at: index)
                return true
            }
            if removed { parked.fail(EINTR) }
        }
    }

    /// poll(2): readable when there is something to read; otherwise the
    /// poller is woken by the next event.
    func poll(_ pollHandle: PollHandle?) -> Int32 {
        let (readable, previous) = state.withLock { state -> (Bool, PollHandle?) in
            Self.flushLost(&state)
            if !state.buffer.isEmpty { return (true, nil) }
            guard let pollHandle else { return (false, nil) }
            let previous = state.pollHandle
            state.pollHandle = pollHandle
            return (false, previous)
        }
        if let previous { previous.destroy() }
        if readable, let pollHandle { pollHandle.destroy() }
        return readable ? Int32(POLLIN | POLLRDNORM) : 0
    }

    /// The handle is closed (RELEASE): no read is in flight any more.
    func closed() {
        let pollHandle = state.withLock { state -> PollHandle? in
            defer { state.pollHandle = nil }
            return state.pollHandle
        }
        if let pollHandle { pollHandle.destroy() }
        limits.closeHandle(uid: uid)
    }

    /// Once the reader has read everything before them, the events that
    /// did not fit are told as one line; events keep being counted until
    /// then, so the order is kept.
    private static func flushLost(_ state: inout State) {
        guard state.lost > 0, state.buffer.isEmpty else { return }
        state.buffer = Array("lost \(state.lost)\n".utf8)
        state.lost = 0
    }

    private static func take(_ state: inout State, _ size: Int) -> [UInt8] {
        let count = min(size, state.buffer.count)
        let bytes = Array(state.buffer[0..<count])
        state.buffer.removeFirst(count)
        flushLost(&state)
        return bytes
    }

    private static func answerWaiting(_ state: inout State) -> [(ParkedRequest, [UInt8])] {
        var answers: [(ParkedRequest, [UInt8])] = []
        while !state.buffer.isEmpty, !state.waiting.isEmpty {
            let (parked, size) = state.waiting.removeFirst()
            answers.append((parked, take(&state, size)))
        }
        return answers
    }

    private static func send(_ parked: ParkedRequest, _ bytes: [UInt8]) {
        parked.answer { request in
            _ = bytes.withUnsafeBytes { fuse_reply_buf(request, $0.baseAddress?.assumingMemoryBound(to: CChar.self), $0.count) }
        }
    }
}

/// A kernel poll handle (`struct fuse_pollhandle`), kept until the change it
/// waits for: then notified and destroyed, or destroyed unused.
struct PollHandle: @unchecked Sendable {
    let raw: OpaquePointer

    /// Wakes the poller, and lets go of the handle.
    func notify() {
        _ = fuse_lowlevel_notify_poll(raw)
        fuse_pollhandle_destroy(raw)
    }

    func destroy() {
        fuse_pollhandle_destroy(raw)
    }
}
