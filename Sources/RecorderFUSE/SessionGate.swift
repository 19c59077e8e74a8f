import CFuseShim
import Synchronization

/// Whether the session may still be written to, for what answers or
/// notifies from outside a worker's request: a parked request's answer (a
/// waiter served by a release, an event for a blocked read), a poll wake-up,
/// the kernel told of a recorder that came or went (that one only asks:
/// see `KernelNotifier`). Those come from any
/// thread (the hotplug thread, the watchdog, a drive call that returns late)
/// at any time, also while the session ends.
///
/// The session closes the gate when its loop has ended, before it unmounts
/// and long before it frees libfuse's session: after that, what would have
/// been written is dropped, and the parked requests are let go unanswered
/// (the unmount ends them in the kernel: their writers see ECONNABORTED, as
/// for every other request in flight). Each writer holds the gate while it
/// writes, so closing waits for a write under way. Not on the hot path: a
/// plain request is answered by its worker, and the workers are gone first.
enum SessionGate {
    private static let open = Mutex<Bool>(false)

    static func opened() {
        open.withLock { $0 = true }
    }

    /// Runs `body` if the session is open, holding the gate; whether it ran.
    @discardableResult
    static func whileOpen(_ body: () -> Void) -> Bool {
        open.withLock { open in
            if open { body() }
            return open
        }
    }

    /// Whether the session is open, without holding the gate: for what may
    /// block in the kernel and must not hold others up (see `KernelNotifier`).
    static var isOpen: Bool {
        open.withLock { $0 }
    }

    /// Closes the gate; `lastly` runs with it closed, before anyone else
    /// can write (the parked requests are let go there).
    static func close(_ lastly: () -> Void) {
        open.withLock { open in
            open = false
            lastly()
        }
    }
}
