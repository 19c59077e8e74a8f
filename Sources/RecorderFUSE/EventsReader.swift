#if canImport(Glibc)
import Glibc
#endif
import CFuseShim
import RecorderCore
import Synchronization

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
