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

    /// Told of every event after the readers and pollers, the comings and
    /// goings of recorders too (the sleep inhibitor).
    private let next: (any RecorderObserver)?

    public init(next: (any RecorderObserver)? = nil) {
        self.next = next
    }

    public func recorderChanged(_ event: RecorderEvent) {
        defer { next?.recorderChanged(event) }
        if event.kind != .refused { wakePollers(of: event.recorder) }
        guard readerCount.load(ordering: .relaxed) > 0 else { return }
        let line = Self.line(event)
        for reader in readers.withLock({ Array($0.values) }) { reader.append(line) }
    }

    /// Readers of `events`, poll(2)ers of the value files (for all but a
    /// refusal), or what follows.
    ///
    /// A poller registers (`pollLater`) and then loads the recorder's count
    /// of changes; a change is counted and then asks here: with both
    /// sequentially consistent, one of the two sees the other.
    public func wants(_ kind: RecorderEvent.Kind) -> Bool {
        readerCount.load(ordering: .relaxed) > 0
            || (kind != .refused && pollerCount.load(ordering: .sequentiallyConsistent) > 0)
            || next?.wants(kind) == true
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
        if let previous { previous.destroy() } else { pollerCount.add(1, ordering: .sequentiallyConsistent) }
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
        guard pollerCount.load(ordering: .sequentiallyConsistent) > 0 else { return }
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
