#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// Answers for a caller whose operation is stuck in a drive past its deadline.
///
/// The FUSE layer makes one per request that may call into a drive; the
/// answer it wraps replies to that request. Exactly one answer is given:
/// either the owner settles (and answers itself), or the watchdog fires.
public final class Overrun: Sendable {
    private static let open: UInt8 = 0, settled: UInt8 = 1, fired: UInt8 = 2
    private let state = Atomic<UInt8>(Overrun.open)
    private let answer: @Sendable (RecorderError?, UInt, Int) -> Void
    private let request: UInt, count: Int

    /// `answer` gets what the client is due at the deadline: nil for success.
    public convenience init(_ answer: @escaping @Sendable (RecorderError?) -> Void) {
        self.init(request: 0, count: 0) { outcome, _, _ in answer(outcome) }
    }

    /// The same, with `request` and `count` kept here and handed to
    /// `answer`: an answer that captures nothing costs no allocation of its
    /// own (a write of the FUSE layer makes one of these each time).
    public init(request: UInt, count: Int, _ answer: @escaping @Sendable (RecorderError?, UInt, Int) -> Void) {
        self.request = request
        self.count = count
        self.answer = answer
    }

    /// Takes the right to answer for the owner; false when the watchdog has
    /// answered already. Asking again gives the same answer.
    public func settle() -> Bool {
        let (exchanged, original) = state.compareExchange(expected: Self.open, desired: Self.settled,
                                                          ordering: .acquiringAndReleasing)
        return exchanged || original == Self.settled
    }

    /// The watchdog's side: answers unless the owner settled first.
    func fire(_ outcome: RecorderError?) {
        if state.compareExchange(expected: Self.open, desired: Self.fired, ordering: .acquiringAndReleasing).exchanged {
            answer(outcome, request, count)
        }
    }
}
