import Synchronization

/// The recorders of the tree, as they come and go.
///
/// Each recorder gets a slot number that is never reused, so a handle of a
/// removed recorder can never reach the fresh recorder that may later take
/// the same name.
public final class RecorderSet: Sendable {
    public enum Change: Sendable {
        case added(name: String, slot: Int)
        case removed(name: String, slot: Int, stableID: String?, generation: UInt64)
    }

    public struct Entry: Sendable {
        public var slot: Int
        public var recorder: Recorder
        /// The name under by-id/, when the drive has a stable id.
        public var stableID: String?
    }

    private struct State {
        /// Indexed by slot (slots are never reused: the entry of a removed
        /// recorder stays nil), so the lookup of every request is no hash.
        var bySlot: [Entry?] = []
        /// The recorders of `bySlot` alone: a look-up of the recorder of a
        /// slot (each open) copies one reference, not an entry.
        var recorders: [Recorder?] = []
        var slotByName: [String: Int] = [:]
        var slotByStableID: [String: Int] = [:]
    }

    private let state = Mutex(State())
    /// The observer, kept in a struct: a function value kept in the generic
    /// Mutex itself was wrapped in two more reabstraction thunks at every
    /// `withLock`, so each change made the next call deeper, until the
    /// hotplug thread's stack overflowed (some 50,000 changes).
    private struct Observer: Sendable {
        let body: @Sendable (Change) -> Void
    }
    private let observer = Mutex<Observer?>(nil)

    public init() {}

    /// Called after every change, outside the set's lock; nil stops it.
    public func observe(_ body: (@Sendable (Change) -> Void)?) {
        observer.withLock { $0 = body.map(Observer.init) }
    }

    /// Adds a recorder; nil when its name is taken.
    @discardableResult
    public func add(_ recorder: Recorder, stableID: String? = nil) -> Int? {
        let slot = state.withLock { state -> Int? in
            guard state.slotByName[recorder.name] == nil else { return nil }
            let slot = state.bySlot.count
            var id = stableID
            if let candidate = id, state.slotByStableID[candidate] != nil { id = nil }
            state.bySlot.append(Entry(slot: slot, recorder: recorder, stableID: id))
            state.recorders.append(recorder)
            state.slotByName[recorder.name] = slot
            if let id { state.slotByStableID[id] = slot }
            return slot
        }
        if let slot { notify(.added(name: recorder.name, slot: slot)) }
        return slot
    }

    /// Removes the recorder `name`: every later operation on it fails with
    /// ENODEV and its claim is dropped.
    @discardableResult
    public func remove(named name: String) -> Recorder? {
        let entry = state.withLock { state -> Entry? in
            guard let slot = state.slotByName.removeValue(forKey: name), let entry = state.bySlot[slot] else { return nil }
            state.bySlot[slot] = nil
            state.recorders[slot] = nil
            if let id = entry.stableID { state.slotByStableID[id] = nil }
            return entry
        }
        guard let entry else { return nil }
        entry.recorder.remove()
        notify(.removed(name: name, slot: entry.slot, stableID: entry.stableID, generation: entry.recorder.generation))
        return entry.recorder
    }

    public func recorder(slot: Int) -> Recorder? {
        state.withLock { $0.recorders.indices.contains(slot) ? $0.recorders[slot] : nil }
    }

    public func entry(slot: Int) -> Entry? {
        state.withLock { $0.bySlot.indices.contains(slot) ? $0.bySlot[slot] : nil }
    }

    public func slot(named name: String) -> Int? {
        state.withLock { $0.slotByName[name] }
    }

    public func slot(stableID: String) -> Int? {
        state.withLock { $0.slotByStableID[stableID] }
    }

    /// Every entry, sorted by name.
    public var entries: [Entry] {
        state.withLock { $0.bySlot.compactMap { $0 } }.sorted { $0.recorder.name < $1.recorder.name }
    }

    /// Removes every recorder (at unmount).
    public func removeAll() {
        for entry in entries { remove(named: entry.recorder.name) }
    }

    private func notify(_ change: Change) {
        observer.withLock { $0 }?.body(change)
    }
}
