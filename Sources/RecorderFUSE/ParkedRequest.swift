#if canImport(Glibc)
import Glibc
#endif
import CFuseShim
import Synchronization

/// A request whose answer comes later, from another thread: a write to
/// `acquire_wait` waiting its turn, a read of `events` waiting for an event.
/// It holds no thread while it waits.
///
/// Exactly one answer is given, by whoever comes first: the event it waits
/// for, or an INTERRUPT from the kernel (the writer got a signal), which
/// runs `interrupted`. libfuse calls the interrupt function with only the
/// request, and may call it just after another thread answered; so parked
/// requests are found by their request in one registry, and one that has
/// been answered is no longer there.
final class ParkedRequest: Sendable {
    private let raw: UInt
    private let answered = Atomic<Bool>(false)
    /// In a struct, not as a function value in the generic Mutex (see
    /// RecorderSet's observer: each `withLock` would wrap it in more thunks).
    private struct Interrupted: Sendable {
        let body: @Sendable () -> Void
    }
    private let onInterrupt: Mutex<Interrupted?>

    private static let registry = Mutex<[UInt: ParkedRequest]>([:])

    private init(_ raw: fuse_req_t) {
        self.raw = UInt(bitPattern: raw)
        onInterrupt = Mutex(nil)
    }

    /// Parks `request`. `interrupted` runs at most once, when the kernel
    /// interrupts it before it is answered; it should end the wait, which
    /// then answers (EINTR).
    static func park(_ request: consuming Request) -> ParkedRequest {
        let parked = ParkedRequest(request.park())
        registry.withLock { $0[parked.raw] = parked }
        return parked
    }

    /// Starts listening for the kernel's INTERRUPT; call once whatever the
    /// wait needs is set up. If the interrupt came already, `interrupted`
    /// runs now, on this thread.
    func listen(interrupted: @escaping @Sendable () -> Void) {
        onInterrupt.withLock { $0 = Interrupted(body: interrupted) }
        guard !answered.load(ordering: .acquiring) else { return }
        fuse_req_interrupt_func(request, { req, _ in
            guard let req else { return }
            let parked = ParkedRequest.registry.withLock { $0[UInt(bitPattern: req)] }
            parked?.onInterrupt.withLock { $0 }?.body()
        }, nil)
    }

    private var request: fuse_req_t { fuse_req_t(bitPattern: raw)! }

    /// Answers with `body` unless the request has been answered already;
    /// whether it answered.
    /// Once the session has ended (`SessionGate`), nothing is answered.
    @discardableResult
    func answer(_ body: (fuse_req_t) -> Void) -> Bool {
        var answeredNow = false
        SessionGate.whileOpen {
            guard !answered.exchange(true, ordering: .acquiringAndReleasing) else { return }
            _ = Self.registry.withLock { $0.removeValue(forKey: raw) }
            onInterrupt.withLock { $0 = nil }
            body(request)
            answeredNow = true
        }
        return answeredNow
    }

    /// The session's end: every request still parked is let go without an
    /// answer (libfuse frees it; the unmount that follows ends it in the
    /// kernel). Runs with the `SessionGate` closed, so nobody answers one
    /// meanwhile, and before libfuse's session is freed.
    static func letGoOfAll() {
        let parked = registry.withLock { registry -> [ParkedRequest] in
            defer { registry = [:] }
            return Array(registry.values)
        }
        for request in parked where !request.answered.exchange(true, ordering: .acquiringAndReleasing) {
            request.onInterrupt.withLock { $0 = nil }
            fuse_reply_none(request.request)
        }
    }

    @discardableResult
    func fail(_ code: Int32) -> Bool {
        answer { fuse_reply_err($0, code) }
    }
}
