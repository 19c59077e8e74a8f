import Synchronization
import RecorderCore

/// A drive that only remembers whether it is claimed and which volumes are
/// mounted, and describes itself as told: enough to lock a recorder and
/// render its files. (The full fake, with failures and hooks, is the core
/// tests'.)
final class FakeDrive: Drive {
    let node: String
    let description: DriveDescription
    private let state: Mutex<(claimed: Bool, mounts: [String])>

    init(node: String = "/dev/fake0", mounts: [String] = [], description: DriveDescription = DriveDescription()) {
        self.node = node
        self.description = description
        state = Mutex((false, mounts))
    }

    var claimed: Bool { state.withLock { $0.claimed } }

    func mountPoints() throws(DriveError) -> [String] { state.withLock { $0.mounts } }

    func unmount(_ mountPoint: String) throws(DriveError) -> UnmountOutcome {
        state.withLock { $0.mounts.removeAll { $0 == mountPoint } }
        return .unmounted
    }

    func probeExclusive() throws(DriveError) {
        if !state.withLock({ $0.mounts.isEmpty }) { throw .busy("the device is busy") }
    }

    func claim(exclusive: Bool, deadline: MonotonicInstant) throws(DriveError) {
        state.withLock { $0.claimed = true }
    }

    func unclaim() {
        state.withLock { $0.claimed = false }
    }

    func describe() -> DriveDescription { description }
}
