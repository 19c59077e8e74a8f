#if canImport(Glibc)
import Glibc
#endif
import Logging
import Synchronization

extension Recorder {
    /// A claim of the free recorder, reserved for one handle.
    struct Reservation {
        var name: ClientName
        var handle: UInt64
        var caller: Caller
        var force: Bool
        var deadline: MonotonicInstant
        /// The waiter it is for, when it came from `acquire_wait`.
        var waiter: LockWaiter?
    }

    func reserve(_ table: inout Table, _ reservation: Reservation) {
        table.transition = reservation.deadline
        table.claimant = Holder(name: reservation.name, uid: reservation.caller.uid)
        table.claimantHandle = reservation.handle
        table.claimSince = Self.wallClock()
    }

    /// Claims the drive for a reservation. A claim that ends after its
    /// caller gave up is undone. A claim that fails leaves the recorder free
    /// for the next waiter.
    func claim(_ reservation: Reservation, overrun: Overrun?) throws(RecorderError) {
        let (name, id, caller, deadline) = (reservation.name, reservation.handle, reservation.caller, reservation.deadline)
        let claimed = calls.call(deadline: deadline, overrun: overrun, { [self] () throws(DriveError) in
            try claimDrive(force: reservation.force, deadline: deadline)
        }, late: { [self] result in
            if case .success = result { drive.unclaim() }
            endTransition()
        })
        guard let claimed else { throw .timedOut }
        var outcome = claimed.mapError(mapLogging)
        let (undo, generation) = table.withLock { table -> (Bool, UInt64) in
            table.transition = nil
            table.claimant = nil
            table.claimantHandle = nil
            self.table.broadcast()
            guard case .success = outcome else { return (false, 0) }
            if table.removed {
                outcome = .failure(.noDevice)
                return (true, 0)
            }
            do throws(RecorderError) {
                try limits.addLock(uid: caller.uid)
            } catch {
                outcome = .failure(error)
                return (true, 0)
            }
            table.holder = Holder(name: name, uid: caller.uid)
            table.generation += 1
            addLock(&table, handle: id, caller: caller)
            eventOrder.lock()
            return (false, table.generation)
        }
        if case .success = outcome {
            changed(.lock, name, caller.pid, caller.uid, generation: generation)
            eventOrder.unlock()
        }
        if undo { drive.unclaim() }
        if case .failure = outcome, let next = table.withLock({ handOver(&$0) }) { serve(next) }
        try outcome.get()
    }

    /// Checks that nobody else uses the drive and claims it. The exclusive
    /// probe fails while a volume is mounted or another program holds the
    /// drive; only then is the mount table read, to tell which and, for
    /// `acquire_force`, to unmount.
    func claimDrive(force: Bool, deadline: MonotonicInstant) throws(DriveError) {
        var confirmed = true
        do {
            try drive.probeExclusive()
        } catch .busy(let why) {
            let mounts = try drive.mountPoints()
            guard !mounts.isEmpty else { throw .busy(why) }
            guard force else { throw .busy("a volume is mounted at \(mounts[0])") }
            for mountPoint in mounts.reversed() {
                if try drive.unmount(mountPoint) == .detachedLazily {
                    confirmed = false
                    logger.warning("volume busy: detached lazily, the kernel claim could not be confirmed",
                                   metadata: ["mountpoint": "\(mountPoint)"])
                } else {
                    logger.notice("volume unmounted", metadata: ["mountpoint": "\(mountPoint)"])
                }
            }
            if confirmed {
                try drive.probeExclusive()
            }
        }
        try drive.claim(exclusive: options.exclusive && confirmed, deadline: deadline)
    }

    func endTransition() {
        let next = table.withLock { table -> Reservation? in
            table.transition = nil
            table.claimant = nil
            table.claimantHandle = nil
            self.table.broadcast()
            return handOver(&table)
        }
        if let next { serve(next) }
    }
}
