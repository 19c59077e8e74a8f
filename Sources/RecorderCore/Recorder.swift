#if canImport(Glibc)
import Glibc
#endif
import Logging
import Synchronization

/// One recorder and its lock table: the rules of docs/design.md §2–4.
///
/// Locks belong to handles (`LockHandle`, one per open file description of
/// `acquire` or `acquire_force`). The table is guarded by a monitor; calls into
/// the drive run outside it, marked by `transition`, so readers never wait on
/// the drive.
public final class Recorder: Sendable {
    public let name: String
    public let drive: any Drive
    public let options: RecorderOptions
    let logger: Logger
    /// Whether the logger takes info lines (each lock, nest, unlock, free),
    /// asked once: a logger's level is set before the recorders are made,
    /// and asking swift-log costs some 200 instructions each time.
    let logsChanges: Bool
    let timeoutNanoseconds: Int64
    let table = Monitor(Table())
    let nextHandleID = Atomic<UInt64>(1)
    /// Every call into the drive goes through here, one at a time, under a deadline.
    let calls: DriveCalls
    /// Shared by all recorders of the daemon.
    public let limits: UsageLimits
    /// Told of every lock, nest, unlock, free and refusal.
    let observer: (any RecorderObserver)?
    /// How many times the lock state changed (for poll(2) of the values).
    let changeCount = Atomic<UInt64>(0)
    /// Keeps the events in the order of the changes: taken under the
    /// table's lock where a change is made, let go once its events are told
    /// (outside the table's lock).
    let eventOrder = OrderLock()

    /// The handle that holds the recorder's locks, and what `holders` shows of it.
    struct HandleLocks {
        var id: UInt64
        var count: Int
        var pid: Int32
        var uid: UInt32
        var since: Int
    }

    struct Table {
        var holder: Holder?
        var lockCount = 0
        /// The handle that holds the locks: one handle, one holder (§3), so
        /// every lock of the recorder is this handle's.
        var holding: HandleLocks?
        /// The drive is being claimed or unclaimed.
        /// A claim or a release of the drive is under way, with this
        /// deadline; past it the drive is hung, and callers fail at once.
        var transition: MonotonicInstant?
        /// Who the claim under way is for, while the drive is being claimed.
        var claimant: Holder?
        /// The handle the claim under way is for.
        var claimantHandle: UInt64?
        /// When the claim under way began (CLOCK_REALTIME seconds).
        var claimSince = 0
        var removed = false
        var generation: UInt64 = 0
        /// Writes to `acquire_wait` waiting their turn, first come first.
        var waiters: [LockWaiter] = []
    }

    /// `generationBase` is the first `generation`, shown while the recorder
    /// has never been locked; a daemon passes `Recorder.clockGeneration()`.
    public init(name: String, drive: any Drive, options: RecorderOptions = RecorderOptions(),
                limits: UsageLimits = UsageLimits(), generationBase: UInt64 = 0,
                observer: (any RecorderObserver)? = nil, logger: Logger = Logger(label: "recorderfs")) {
        self.name = name
        self.observer = observer
        calls = DriveCalls(hooks: options.hooks)
        table.withLock { $0.generation = generationBase }
        self.limits = limits
        self.drive = drive
        self.options = options
        timeoutNanoseconds = options.timeoutNanoseconds
        var logger = logger
        logger[metadataKey: "recorder"] = "\(name)"
        self.logger = logger
        logsChanges = logger.logLevel <= .info
    }

    /// A handle opened by root, which no usage limit applies to.
    public func makeHandle() -> LockHandle {
        LockHandle(id: nextHandleID.wrappingAdd(1, ordering: .relaxed).oldValue, recorder: self, uid: 0)
    }

    /// A handle for `uid`, whose usage counts it already (`UsageLimits.openHandle`).
    public func makeHandle(countedFor uid: UInt32) -> LockHandle {
        LockHandle(id: nextHandleID.wrappingAdd(1, ordering: .relaxed).oldValue, recorder: self, uid: uid)
    }

    /// A handle opened by `caller`, counted in its usage (EMFILE past the limit).
    public func makeHandle(caller: Caller) throws(RecorderError) -> LockHandle {
        do {
            try limits.openHandle(uid: caller.uid)
        } catch {
            logger.notice("refused", metadata: ["op": "open", "pid": "\(caller.pid)", "uid": "\(caller.uid)", "reason": "\(error)"])
            throw error
        }
        return LockHandle(id: nextHandleID.wrappingAdd(1, ordering: .relaxed).oldValue, recorder: self, uid: caller.uid)
    }

    // MARK: Reading

    /// The holder, the number of locks and the generation, now.
    public func snapshot() throws(RecorderError) -> RecorderSnapshot {
        try table.withLock { (table) throws(RecorderError) in
            if table.removed { throw .noDevice }
            return RecorderSnapshot(holder: table.holder, lockCount: table.lockCount, generation: table.generation)
        }
    }

    /// Free, claiming, locked, releasing or gone, now.
    public func claimState() -> ClaimState {
        let state = table.withLock { table -> ClaimState in
            if table.removed { return .gone }
            if table.claimant != nil { return .claiming(since: table.claimSince, waitingFor: nil) }
            if table.transition != nil { return .releasing }
            return table.holder == nil ? .free : .locked
        }
        guard case .claiming(let since, _) = state else { return state }
        return .claiming(since: since, waitingFor: drive.claimWaitsFor)
    }

    /// The handles that hold locks, oldest first.
    public func holders() throws(RecorderError) -> [HandleRecord] {
        try table.withLock { (table) throws(RecorderError) in
            if table.removed { throw .noDevice }
            guard let holder = table.holder, let locks = table.holding else { return [] }
            return [HandleRecord(name: holder.name, pid: locks.pid, uid: locks.uid, count: locks.count, since: locks.since)]
        }
    }

    /// What the drive is, now.
    public func description() throws(RecorderError) -> DriveDescription {
        if table.withLock({ $0.removed }) { throw .noDevice }
        return drive.describe()
    }

    /// The mount points of the drive's volumes, now.
    public func volumes() throws(RecorderError) -> [String] {
        if table.withLock({ $0.removed }) { throw .noDevice }
        do {
            return try drive.mountPoints()
        } catch {
            throw mapLogging(error)
        }
    }

    // MARK: Locking

    // The operations that may call into the drive take an `Overrun`: if the
    // drive is still busy at the deadline, the watchdog answers the client
    // through it, and the result that comes later is undone, not answered.
    // Without one, the caller waits as long as the drive takes, and a late
    // result is undone and answered `.timedOut`.

    /// Adds one lock to `handle` for `name` (a write to `acquire` or, with
    /// `force`, to `acquire_force`).
    public func acquire(_ name: ClientName, handle: LockHandle, caller: Caller, force: Bool,
                        overrun: Overrun? = nil) throws(RecorderError) {
        try refusalsLogged(force ? "acquire_force" : "acquire", caller, refusing: name) { () throws(RecorderError) in
            try takeLock(name, handle: handle.id, caller: caller, force: force, overrun: overrun)
        }
    }

    /// One more lock for `handle` if it holds the recorder already and
    /// `written` (the bytes of a write to `acquire` or `acquire_force`) is
    /// the holder's name: the nest of `acquire`, decided under the table's
    /// lock without making a name or an `Overrun`, as no drive is called.
    /// False, with nothing changed, in every other case (not the holding
    /// handle, another name, bytes that are no name, a release under way,
    /// the user's limit of locks): the caller then calls `acquire`, which
    /// decides, waits or refuses, and logs a refusal.
    public func nestIfHolding(_ handle: LockHandle, written: UnsafeRawBufferPointer, caller: Caller) -> Bool {
        let nested = table.withLock { table -> (ClientName, Nest)? in
            guard !table.removed, table.transition == nil, let holder = table.holder, let locks = table.holding,
                  locks.id == handle.id, holder.name.matches(written),
                  let nest = try? nest(&table, locks, caller: caller) else { return nil }
            return (holder.name, nest)
        }
        guard let (name, nest) = nested else { return false }
        told(nest, name, caller: caller)
        return true
    }

    /// A nest taken under the table's lock, to be told after it.
    struct Nest {
        var generation: UInt64
        /// Logged or observed: `eventOrder` is held until it is told.
        var heard: Bool
    }

    /// One more lock of the holding handle, under the table's lock: counted
    /// against its uid's limit, added, and counted as a change. Its event
    /// keeps the order of the table's changes (`eventOrder`, taken here) only
    /// where somebody hears it; a nest that is neither logged nor observed
    /// takes no second lock.
    ///
    /// The change is counted before the observer is asked: a poller that
    /// registers after the question loads the new count (and sees the
    /// change), one that registered before it is told (design.md §2, poll).
    func nest(_ table: inout Table, _ locks: HandleLocks, caller: Caller) throws(RecorderError) -> Nest {
        try limits.addLock(uid: locks.uid)
        addLock(&table, handle: locks.id, caller: caller)
        changeCount.add(1, ordering: .sequentiallyConsistent)
        let heard = logsChanges || observer?.wants(.nest) == true
        if heard { eventOrder.lock() }
        return Nest(generation: table.generation, heard: heard)
    }

    /// After the table's lock: a heard nest's event, told in order.
    func told(_ nest: Nest, _ name: ClientName, caller: Caller) {
        guard nest.heard else { return }
        tell(.nest, name, caller.pid, caller.uid, generation: nest.generation)
        eventOrder.unlock()
    }

    /// Drops the most recent lock of the holder `name` (a write to `release`).
    public func release(_ name: ClientName, caller: Caller, overrun: Overrun? = nil) throws(RecorderError) {
        try refusalsLogged("release", caller) { () throws(RecorderError) in
            try dropLock(name, caller: caller, overrun: overrun)
        }
    }

    func dropLock(_ name: ClientName, caller: Caller, overrun: Overrun?) throws(RecorderError) {
        let deadline = deadline()
        let (last, generation) = try table.withWaitableLock { (locked) throws(RecorderError) -> (Bool, UInt64) in
            try waitForTransition(locked, until: deadline)
            return try locked.update { (table) throws(RecorderError) -> (Bool, UInt64) in
                guard let holder = table.holder, holder.name == name, table.lockCount > 0 else {
                    throw .noLock
                }
                guard caller.uid == holder.uid || caller.isRoot else { throw .notPermitted }
                if table.lockCount == 1 {
                    table.transition = deadline
                    return (true, table.generation)
                }
                popMostRecentLock(&table)
                eventOrder.lock()
                return (false, table.generation)
            }
        }
        if last {
            // The lock is dropped whatever the drive does: a client still
            // waiting at the deadline is told so.
            letGo(until: deadline, overrun: overrun, unlockedBy: caller) { [self] table in popMostRecentLock(&table) }
        } else {
            changed(.unlock, name, caller.pid, caller.uid, generation: generation)
            eventOrder.unlock()
        }
    }

    /// The handle's last descriptor is gone (FUSE RELEASE): its locks go too.
    func closed(_ id: UInt64, uid: UInt32) {
        limits.closeHandle(uid: uid)
        let deadline = deadline()
        let last = table.withWaitableLock { locked -> Bool in
            // A handle without locks has nothing to let go of: it never waits
            // for the drive. (A claim for it that ends late is undone by the
            // claim itself.)
            guard locked.state.holding?.id == id else { return false }
            // A release under way may be dropping this handle's last lock.
            while let until = locked.state.transition, until > .now, options.hooks.wait(locked, until: min(until, deadline)) {}
            return locked.update { table -> Bool in
                guard let locks = table.holding, locks.id == id else { return false }
                if table.transition != nil || locks.count < table.lockCount {
                    removeHandle(id, &table)
                    self.table.broadcast()
                    return false
                }
                table.transition = deadline
                return true
            }
        }
        if last {
            letGo(until: deadline, overrun: nil, unlockedBy: nil) { [self] table in removeHandle(id, &table) }
        }
    }

    /// Drops the last locks: the drive is let go first, while the table still
    /// shows them, and only then does the recorder show free; so nobody sees
    /// it free while its claim is still held. Runs in a transition the
    /// caller started.
    /// `unlockedBy` is the caller of a `release` that drops the last lock
    /// (nil for the close of the holding handle). The first waiter, if any,
    /// gets the recorder next.
    func letGo(until deadline: MonotonicInstant, overrun: Overrun?, unlockedBy releaser: Caller?,
                       _ dropLastLocks: (inout Table) -> Void) {
        func finish() {
            typealias Freed = (name: ClientName, pid: Int32, uid: UInt32, generation: UInt64)
            let (freed, next) = table.withLock { table -> (Freed?, Reservation?) in
                var freed: Freed?
                if !table.removed, let holder = table.holder {
                    let pid = table.holding?.pid ?? 0
                    dropLastLocks(&table)
                    table.holder = nil
                    freed = (holder.name, releaser?.pid ?? pid, releaser?.uid ?? holder.uid, table.generation)
                    eventOrder.lock()
                }
                table.transition = nil
                self.table.broadcast()
                return (freed, handOver(&table))
            }
            if let freed {
                // The events are made only if somebody hears them (`tell`).
                if releaser != nil { changed(.unlock, freed.name, freed.pid, freed.uid, generation: freed.generation) }
                changed(.free, freed.name, freed.pid, freed.uid, generation: freed.generation)
                eventOrder.unlock()
            }
            if let next { serve(next) }
        }
        // Even behind a hung call: the descriptors must be closed.
        let unclaimed = calls.call(deadline: deadline, failFast: false, overrun: overrun, answer: nil,
                                   { [drive] () throws(DriveError) in
                                       drive.unclaim()
                                       // The claim is gone: now the system may look at the medium again.
                                       drive.reprobe()
                                   }, late: { _ in finish() })
        if unclaimed != nil { finish() }
    }

    func popMostRecentLock(_ table: inout Table) {
        guard var locks = table.holding else { return }
        limits.dropLocks(uid: locks.uid, count: 1)
        locks.count -= 1
        table.holding = locks.count == 0 ? nil : locks
        table.lockCount -= 1
    }

    func removeHandle(_ id: UInt64, _ table: inout Table) {
        guard let locks = table.holding, locks.id == id else { return }
        table.holding = nil
        limits.dropLocks(uid: locks.uid, count: locks.count)
        table.lockCount -= locks.count
    }

    /// Waits, until `deadline`, for a claim or a release of the drive that
    /// is under way to end.
    func waitForTransition(_ locked: Monitor<Table>.Locked, until deadline: MonotonicInstant) throws(RecorderError) {
        while true {
            if locked.state.removed { throw .noDevice }
            guard let until = locked.state.transition else { return }
            // Past its own deadline the drive is hung: do not queue behind it.
            guard until > .now, MonotonicInstant.now < deadline else { throw .timedOut }
            _ = options.hooks.wait(locked, until: min(until, deadline))
        }
    }

    /// The generation now (also once the recorder went away).
    public var generation: UInt64 {
        table.withLock { $0.generation }
    }

    /// Whether the handle `id` holds at least one lock now.
    func holdsLocks(_ id: UInt64) -> Bool {
        table.withLock { $0.holding?.id == id }
    }

    /// The recorder went away: every later operation fails with ENODEV.
    public func remove() {
        var waiters: [LockWaiter] = []
        defer { for waiter in waiters { waiter.complete(.noDevice) } }
        let claimed = table.withLock { table -> Bool in
            waiters = table.waiters
            table.waiters = []
            // A claim or a release under way lets the drive go itself.
            let claimed = table.lockCount > 0 && table.transition == nil
            if let locks = table.holding { limits.dropLocks(uid: locks.uid, count: locks.count) }
            table.removed = true
            table.holder = nil
            table.lockCount = 0
            table.holding = nil
            self.table.broadcast()
            return claimed
        }
        if claimed { drive.unclaim() }
    }

    func deadline() -> MonotonicInstant {
        MonotonicInstant.now.advanced(byNanoseconds: timeoutNanoseconds)
    }

    // MARK: Rules

    func takeLock(_ name: ClientName, handle id: UInt64, caller: Caller, force: Bool, overrun: Overrun?) throws(RecorderError) {
        let deadline = deadline()
        // Under the lock: nest, refuse, or reserve the drive transition.
        let nested = try table.withWaitableLock { (locked) throws(RecorderError) -> Nest? in
            // Another handle's claim under way makes it the holder: refuse at once.
            if let claimant = locked.state.claimant, locked.state.claimantHandle != id {
                throw .busy("being locked by \(claimant.name) (uid \(claimant.uid))")
            }
            try waitForTransition(locked, until: deadline)
            return try locked.update { (table) throws(RecorderError) -> Nest? in
                if let holder = table.holder {
                    // One handle, one holder: only the holding handle nests,
                    // and only with its name.
                    guard let locks = table.holding, locks.id == id, holder.name == name else {
                        throw .busy("held by \(holder.name) (uid \(holder.uid))")
                    }
                    return try nest(&table, locks, caller: caller)
                }
                reserve(&table, Reservation(name: name, handle: id, caller: caller, force: force, deadline: deadline))
                return nil
            }
        }
        if let nested { return told(nested, name, caller: caller) }
        try claim(Reservation(name: name, handle: id, caller: caller, force: force, deadline: deadline), overrun: overrun)
    }

    func addLock(_ table: inout Table, handle id: UInt64, caller: Caller) {
        if table.holding?.id == id {
            table.holding!.count += 1
        } else {
            table.holding = HandleLocks(id: id, count: 1, pid: caller.pid, uid: caller.uid, since: Self.wallClock())
        }
        table.lockCount += 1
    }

    /// A generation base that no earlier daemon since boot has reached for
    /// any recorder: CLOCK_REALTIME in microseconds. A daemon that started at
    /// t₀ and shows t₀ + n after n locks is behind the clock, as every free →
    /// locked transition takes far more than a microsecond; so a later
    /// daemon starts above every value it showed, after a clean stop or a
    /// SIGKILL alike. It fails only if the clock is set back between two
    /// daemons by more than the time between them.
    public static func clockGeneration() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return UInt64(now.tv_sec) * 1_000_000 + UInt64(now.tv_nsec / 1000)
    }

    static func wallClock() -> Int {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return now.tv_sec
    }

}
