#if canImport(Glibc)
import Glibc
#endif
import CLogind
import Logging
import RecorderCore

/// `mount --inhibit-sleep`: while a recorder is locked, sleep and shutdown
/// wait for it. On free → locked it takes a logind inhibitor
/// (`Inhibit("sleep:shutdown", "recorderfs", "sr0 locked by NAME", "block")`),
/// and closes it on locked → free or when the recorder goes away; a killed
/// daemon's inhibitors close with its descriptors.
///
/// The bus calls run on a thread of their own: a lock never waits for
/// logind, and the inhibitor follows the lock a moment later. Its close at
/// free is done at once, by the thread that frees (a bus that does not
/// answer holds the worker, never a free). Without a system bus or logind it
/// logs once and carries on.
final class SleepInhibitor: RecorderObserver, @unchecked Sendable {
    private struct Wanted {
        /// Recorder name → the reason shown by logind, for each locked recorder.
        var reasons: [String: String] = [:]
        /// Recorder name → (reason, descriptor): the inhibitors held.
        var held: [String: (String, Int32)] = [:]
        var changed = false
    }

    private let wanted = Monitor(Wanted())
    private let logger: Logger
    /// Only the worker touches it.
    private var warned = false

    init(logger: Logger) {
        self.logger = logger
        var thread = pthread_t()
        let unmanaged = Unmanaged.passRetained(self)
        if pthread_create(&thread, nil, { argument in
            Unmanaged<SleepInhibitor>.fromOpaque(argument!).takeRetainedValue().work()
            return nil
        }, unmanaged.toOpaque()) == 0 {
            pthread_detach(thread)
        } else {
            unmanaged.release()
            logger.warning("cannot start the sleep inhibitor's thread")
        }
    }

    func wants(_ kind: RecorderEvent.Kind) -> Bool { kind == .lock || kind == .free || kind == .removed }

    func recorderChanged(_ event: RecorderEvent) {
        switch event.kind {
        case .lock:
            let reason = "\(event.recorder) locked by \(event.name?.value ?? "")"
            update { $0[event.recorder] = reason }
        case .free, .removed:
            update { $0[event.recorder] = nil }
        case .nest, .unlock, .refused, .added:
            break
        }
    }

    private func update(_ change: (inout [String: String]) -> Void) {
        let released = wanted.withLock { state -> [(String, Int32)] in
            change(&state.reasons)
            state.changed = true
            // Closed here: what no lock wants any more goes at once.
            let gone = state.held.filter { state.reasons[$0.key] != $0.value.0 }
            for recorder in gone.keys { state.held[recorder] = nil }
            return gone.map { ($0.key, $0.value.1) }
        }
        wanted.broadcast()
        for (recorder, descriptor) in released {
            close(descriptor)
            logger.info("sleep inhibitor closed", metadata: ["recorder": "\(recorder)"])
        }
    }

    /// Makes the inhibitors held follow the recorders locked, forever.
    private func work() {
        while true {
            let missing = wanted.withWaitableLock { locked -> [(String, String)] in
                while !locked.state.changed { _ = locked.wait(until: .now.advanced(by: .seconds(3600))) }
                return locked.update { state in
                    state.changed = false
                    return state.reasons.filter { state.held[$0.key] == nil }.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
                }
            }
            for (recorder, reason) in missing {
                var error = [CChar](repeating: 0, count: 512)
                let descriptor = rfs_logind_inhibit("sleep:shutdown", "recorderfs", reason, "block", &error, error.count)
                if descriptor >= 0 {
                    // Kept only if the lock it is for is still there.
                    let kept = wanted.withLock { state -> Bool in
                        guard state.reasons[recorder] == reason, state.held[recorder] == nil else { return false }
                        state.held[recorder] = (reason, descriptor)
                        return true
                    }
                    if kept {
                        logger.info("sleep inhibitor taken", metadata: ["recorder": "\(recorder)", "why": "\(reason)"])
                    } else {
                        close(descriptor)
                    }
                } else {
                    let why = String(decoding: error.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                    if !warned {
                        logger.warning("sleep and shutdown are not held off while locked", metadata: ["reason": "\(why)"])
                        warned = true
                    } else {
                        logger.debug("no sleep inhibitor", metadata: ["recorder": "\(recorder)", "reason": "\(why)"])
                    }
                }
            }
        }
    }
}
