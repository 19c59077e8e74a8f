import Synchronization
@testable import RecorderCore

/// A drive that only remembers: the calls the core made, whether it is
/// claimed, and the mounts of its volumes. Tests inject failures per call
/// and can hold a claim or an unclaim "inside the drive" with a hook.
///
/// It also checks the core's use of the protocol: a claim while claimed, an
/// unclaim while not claimed, or a probe while claimed (a real O_EXCL probe
/// would then fail against our own claim) is recorded as a violation.
final class FakeDrive: Drive {
    enum Call: Equatable, Sendable {
        case mountPoints
        case unmount(String)
        case probeExclusive
        case claim(exclusive: Bool)
        case unclaim
        case eject
        case closeTray
    }

    /// The calls that can be made to fail.
    enum Operation: Hashable, Sendable {
        case mountPoints, unmount, probeExclusive, claim, eject, closeTray
    }

    struct State {
        var calls: [Call] = []
        /// The mount points of the drive's volumes, deepest last.
        var mounts: [String] = []
        /// Mount points whose volume is in use: unmounting detaches them lazily.
        var busyMounts: Set<String> = []
        var claimed = false
        var exclusive = false
        /// Successful claims and the unclaims.
        var claims = 0
        var unclaims = 0
        /// `reprobe` calls (not in `calls`, which the claim tests compare whole).
        var reprobes = 0
        /// Tray commands that succeeded.
        var ejects = 0
        var trayCloses = 0
        /// The deadline of every claim call.
        var claimDeadlines: [MonotonicInstant] = []
        /// Failures still to inject, first first, per operation.
        var failures: [Operation: [DriveError]] = [:]
        var violations: [String] = []
    }

    struct Hooks {
        /// Runs at the start of every claim, outside the drive's lock; may
        /// block (a gate) or fail.
        var claim: (@Sendable () throws(DriveError) -> Void)?
        /// Runs at the start of every unclaim, outside the drive's lock.
        var unclaim: (@Sendable () -> Void)?
        /// Runs at the start of every eject and close-tray, outside the
        /// drive's lock; may block (a gate) or fail.
        var tray: (@Sendable () throws(DriveError) -> Void)?
    }

    let node: String
    /// What `describe()` answers.
    let description: DriveDescription
    private let state: Mutex<State>
    private let hooks = Mutex(Hooks())

    init(node: String = "/dev/fake0", mounts: [String] = [], busyMounts: Set<String> = [],
         description: DriveDescription = DriveDescription()) {
        self.node = node
        self.description = description
        state = Mutex(State(mounts: mounts, busyMounts: busyMounts))
    }

    // MARK: Test controls

    /// Makes the next `times` calls of `operation` fail with `error`.
    func fail(_ operation: Operation, with error: DriveError, times: Int = 1) {
        state.withLock { $0.failures[operation, default: []] += Array(repeating: error, count: times) }
    }

    func onClaim(_ hook: (@Sendable () throws(DriveError) -> Void)?) {
        hooks.withLock { $0.claim = hook }
    }

    func onUnclaim(_ hook: (@Sendable () -> Void)?) {
        hooks.withLock { $0.unclaim = hook }
    }

    func onTray(_ hook: (@Sendable () throws(DriveError) -> Void)?) {
        hooks.withLock { $0.tray = hook }
    }

    func mount(_ mountPoint: String, busy: Bool = false) {
        state.withLock {
            $0.mounts.append(mountPoint)
            if busy { $0.busyMounts.insert(mountPoint) }
        }
    }

    func forgetCalls() {
        state.withLock { $0.calls = [] }
    }

    var current: State { state.withLock { $0 } }
    var calls: [Call] { current.calls }
    var claims: Int { current.claims }
    var unclaims: Int { current.unclaims }
    var claimed: Bool { current.claimed }
    var violations: [String] { current.violations }
    var reprobes: Int { current.reprobes }

    /// What `claimWaitsFor` answers.
    let waitingFor = Mutex<String?>(nil)

    // MARK: Drive

    func mountPoints() throws(DriveError) -> [String] {
        try state.withLock { (state) throws(DriveError) -> [String] in
            state.calls.append(.mountPoints)
            try Self.injected(.mountPoints, &state)
            return state.mounts
        }
    }

    func unmount(_ mountPoint: String) throws(DriveError) -> UnmountOutcome {
        try state.withLock { (state) throws(DriveError) -> UnmountOutcome in
            state.calls.append(.unmount(mountPoint))
            try Self.injected(.unmount, &state)
            guard let index = state.mounts.lastIndex(of: mountPoint) else {
                throw .failed("\(mountPoint) is not mounted", errno: 22)
            }
            // Detached lazily or not, the mount leaves the namespace.
            state.mounts.remove(at: index)
            return state.busyMounts.remove(mountPoint) != nil ? .detachedLazily : .unmounted
        }
    }

    func probeExclusive() throws(DriveError) {
        try state.withLock { (state) throws(DriveError) in
            state.calls.append(.probeExclusive)
            if state.claimed { state.violations.append("probe while claimed") }
            try Self.injected(.probeExclusive, &state)
            // As the kernel: an exclusive open fails while a volume is mounted.
            if !state.mounts.isEmpty { throw .busy("the device is busy") }
        }
    }

    func claim(exclusive: Bool, deadline: MonotonicInstant) throws(DriveError) {
        state.withLock {
            $0.calls.append(.claim(exclusive: exclusive))
            $0.claimDeadlines.append(deadline)
        }
        if let hook = hooks.withLock({ $0.claim }) { try hook() }
        try state.withLock { (state) throws(DriveError) in
            try Self.injected(.claim, &state)
            if state.claimed { state.violations.append("claim while claimed") }
            state.claimed = true
            state.exclusive = exclusive
            state.claims += 1
        }
    }

    func unclaim() {
        state.withLock { $0.calls.append(.unclaim) }
        if let hook = hooks.withLock({ $0.unclaim }) { hook() }
        state.withLock { state in
            if !state.claimed { state.violations.append("unclaim while not claimed") }
            state.claimed = false
            state.exclusive = false
            state.unclaims += 1
        }
    }

    func reprobe() {
        state.withLock { state in
            if state.claimed { state.violations.append("reprobe while claimed") }
            state.reprobes += 1
        }
    }

    var claimWaitsFor: String? { waitingFor.withLock { $0 } }

    func describe() -> DriveDescription { description }

    func eject() throws(DriveError) {
        try trayCommand(.eject, .eject) { $0.ejects += 1 }
    }

    func closeTray() throws(DriveError) {
        try trayCommand(.closeTray, .closeTray) { $0.trayCloses += 1 }
    }

    private func trayCommand(_ call: Call, _ operation: Operation, done: (inout State) -> Void) throws(DriveError) {
        state.withLock { $0.calls.append(call) }
        if let hook = hooks.withLock({ $0.tray }) { try hook() }
        try state.withLock { (state) throws(DriveError) in
            try Self.injected(operation, &state)
            done(&state)
        }
    }

    private static func injected(_ operation: Operation, _ state: inout State) throws(DriveError) {
        guard var queue = state.failures[operation], !queue.isEmpty else { return }
        let error = queue.removeFirst()
        state.failures[operation] = queue
        throw error
    }
}
