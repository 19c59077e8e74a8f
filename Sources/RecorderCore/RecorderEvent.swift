import Synchronization

/// Something that happened to a recorder's lock, as `MOUNT/events` tells it
/// (the counterpart of the notifications Windows sends for each lock and
/// unlock).
public struct RecorderEvent: Equatable, Sendable {
    public enum Kind: String, Sendable {
        /// 0 → 1 lock: the drive was claimed.
        case lock
        /// One more lock through the holding handle.
        case nest
        /// A write to `release` dropped one lock.
        case unlock
        /// The count came back to 0 (after the last `unlock`, or the close of
        /// the holding handle): the drive was let go.
        case free
        /// A write to `acquire` or `acquire_force` was refused with EBUSY.
        case refused
        /// The recorder appeared, or went away.
        case added, removed
    }

    public var kind: Kind
    public var recorder: String
    /// The client name written, or the holder's (nil for added and removed).
    public var name: ClientName?
    public var pid: Int32
    public var uid: UInt32
    /// The recorder's generation after the event.
    public var generation: UInt64
    /// Who holds the recorder, for `refused`.
    public var holder: ClientName?

    public init(kind: Kind, recorder: String, name: ClientName?, pid: Int32, uid: UInt32, generation: UInt64,
                holder: ClientName? = nil) {
        self.kind = kind
        self.recorder = recorder
        self.name = name
        self.pid = pid
        self.uid = uid
        self.generation = generation
        self.holder = holder
    }
}

/// Told of every event of the recorders it is given to, on the thread that
/// made it, after the lock table changed and outside its lock. It must not
/// block: the lock operation waits for it.
public protocol RecorderObserver: AnyObject, Sendable {
    func recorderChanged(_ event: RecorderEvent)
    /// Whether an event of `kind` would reach anyone now: a recorder makes
    /// the event of a nest, an unlock or a refusal only then. Every event
    /// unless the observer says otherwise. It may be asked under the
    /// recorder's lock: it must not block nor call into a recorder.
    func wants(_ kind: RecorderEvent.Kind) -> Bool
}

extension RecorderObserver {
    public func wants(_ kind: RecorderEvent.Kind) -> Bool { true }
}

/// Tells several observers, in order.
public final class RecorderObservers: RecorderObserver {
    let observers: [any RecorderObserver]

    public init(_ observers: [any RecorderObserver]) {
        self.observers = observers
    }

    public func recorderChanged(_ event: RecorderEvent) {
        for observer in observers { observer.recorderChanged(event) }
    }

    public func wants(_ kind: RecorderEvent.Kind) -> Bool {
        observers.contains { $0.wants(kind) }
    }
}
