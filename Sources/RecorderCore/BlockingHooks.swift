/// What the thread that serves a request does when the core is about to
/// block it: given to each `Recorder` by whoever runs the core.
///
/// The FUSE request loop lets one worker at a time take requests from the
/// kernel, and that worker answers what it took before it takes the next
/// (docs/request-loop.md); so before it waits for a lock rule it must let
/// another worker take requests, and while it is in a drive call that lasts
/// more than a moment, another worker must take them in its place, or
/// everything would wait with it. Without a loop (the core's tests, other
/// threads) the hooks do nothing.
public struct BlockingHooks: Sendable {
    /// Called before the thread waits for another thread (a claim to end, a
    /// drive call of another request).
    public var willWait: @Sendable () -> Void
    /// Called around a call into the drive.
    public var driveCallBegins: @Sendable () -> Void
    public var driveCallEnds: @Sendable () -> Void

    public init(willWait: @escaping @Sendable () -> Void, driveCallBegins: @escaping @Sendable () -> Void,
                driveCallEnds: @escaping @Sendable () -> Void) {
        self.willWait = willWait
        self.driveCallBegins = driveCallBegins
        self.driveCallEnds = driveCallEnds
    }

    /// For threads that serve no request loop.
    public static let none = BlockingHooks(willWait: {}, driveCallBegins: {}, driveCallEnds: {})

    /// Runs `body`, a call into a drive.
    func driveCall<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T {
        driveCallBegins()
        defer { driveCallEnds() }
        return try body()
    }

    /// Waits on `locked` until a broadcast or `deadline`, letting the loop
    /// go on first; false once the deadline has passed.
    func wait<State>(_ locked: Monitor<State>.Locked, until deadline: MonotonicInstant) -> Bool {
        willWait()
        return locked.wait(until: deadline)
    }
}
