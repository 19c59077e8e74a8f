#if canImport(Glibc)
import Glibc
#endif
import Logging
import Synchronization

extension Recorder {
    /// Takes a lock for `handle` like `acquire`, but waits its turn while
    /// another handle holds the recorder, or is claiming it, or waits
    /// already (a write to `acquire_wait`): first come, first served, on
    /// no thread. `completion` gets nil once the lock is taken, or the
    /// error, exactly once; `cancel` ends the wait (EINTR).
    public func acquireWaiting(_ name: ClientName, handle: LockHandle, caller: Caller, force: Bool,
                               completion: @escaping @Sendable (RecorderError?) -> Void) -> LockWaiter {
        let waiter = LockWaiter(handle: handle.id, name: name, caller: caller, force: force, completion: completion)
        let queued = table.withLock { table -> Bool in
            guard !table.removed else { return false }
            let holdsIt = table.holding?.id == handle.id || table.claimantHandle == handle.id
            guard !holdsIt, table.holder != nil || table.transition != nil || !table.waiters.isEmpty else { return false }
            table.waiters.append(waiter)
            return true
        }
        if queued {
            logger.debug("waiting", metadata: ["name": "\(name)", "pid": "\(caller.pid)", "uid": "\(caller.uid)"])
            return waiter
        }
        // Free, or its own: as `acquire`, at once.
        let outcome = Result { () throws(RecorderError) in
            try acquire(name, handle: handle, caller: caller, force: force)
        }
        if case .failure(let error) = outcome { waiter.complete(error) } else { waiter.complete(nil) }
        return waiter
    }

    /// Ends the wait of `waiter` with `.interrupted`, unless its turn came.
    public func cancel(_ waiter: LockWaiter) {
        let removed = table.withLock { table -> Bool in
            guard let index = table.waiters.firstIndex(where: { $0 === waiter }) else { return false }
            table.waiters.remove(at: index)
            return true
        }
        if removed { waiter.complete(.interrupted) }
    }

    /// The recorder has just become free (called under the table's lock):
    /// reserves it for the first waiter, if there is one.
    func handOver(_ table: inout Table) -> Reservation? {
        guard !table.removed, table.holder == nil, table.transition == nil, !table.waiters.isEmpty else { return nil }
        let waiter = table.waiters.removeFirst()
        let reservation = Reservation(name: waiter.name, handle: waiter.handle, caller: waiter.caller, force: waiter.force,
                                      deadline: deadline(), waiter: waiter)
        reserve(&table, reservation)
        return reservation
    }

    /// Claims the drive for the waiter the recorder was handed over to, and
    /// tells it the outcome.
    func serve(_ reservation: Reservation) {
        let outcome = Result { () throws(RecorderError) in
            try refusalsLogged("acquire_wait", reservation.caller, refusing: reservation.name) { () throws(RecorderError) in
                try claim(reservation, overrun: nil)
            }
        }
        if case .failure(let error) = outcome { reservation.waiter?.complete(error) } else { reservation.waiter?.complete(nil) }
        guard case .success = outcome else { return }
        // Writers in line on the same handle (one open file shared by a
        // fork, or passed on) now write to the holding handle: each nests
        // at once, leaving the line in the same step; one that cannot nest
        // now (another name, a release meanwhile, its uid's limit) stays
        // in line.
        while let (waiter, nest, name) = table.withLock({ table -> (LockWaiter, Nest, ClientName)? in
            guard !table.removed, table.transition == nil, let holder = table.holder, let locks = table.holding,
                  locks.id == reservation.handle,
                  let index = table.waiters.firstIndex(where: { $0.handle == locks.id && $0.name == holder.name }),
                  let nest = try? nest(&table, locks, caller: table.waiters[index].caller) else { return nil }
            return (table.waiters.remove(at: index), nest, holder.name)
        }) {
            told(nest, name, caller: waiter.caller)
            waiter.complete(nil)
        }
    }
}
