#if canImport(Glibc)
import Glibc
#endif
import Logging
import Synchronization

extension Recorder {
    /// Opens the tray (a write to `eject`).
    public func eject(caller: Caller, overrun: Overrun? = nil) throws(RecorderError) {
        try refusalsLogged("eject", caller) { () throws(RecorderError) in
            try trayCommand(caller, overrun) { [drive] () throws(DriveError) in try drive.eject() }
        }
    }

    /// Closes the tray (a write to `closetray`).
    public func closeTray(caller: Caller, overrun: Overrun? = nil) throws(RecorderError) {
        try refusalsLogged("closetray", caller) { () throws(RecorderError) in
            try trayCommand(caller, overrun) { [drive] () throws(DriveError) in try drive.closeTray() }
        }
    }

    /// Allowed while free, and to the holder's uid or root while locked;
    /// refused under another holder (E_IMAPI_RECORDER_LOCKED).
    func trayCommand(_ caller: Caller, _ overrun: Overrun?, _ command: () throws(DriveError) -> Void) throws(RecorderError) {
        try table.withLock { (table) throws(RecorderError) in
            if table.removed { throw .noDevice }
            if let holder = table.holder, holder.uid != caller.uid, !caller.isRoot {
                throw .busy("locked by \(holder.name) (uid \(holder.uid))")
            }
        }
        guard let result = calls.call(deadline: deadline(), overrun: overrun, command, late: { _ in }) else { throw .timedOut }
        do {
            try result.get()
        } catch {
            throw mapLogging(error)
        }
    }
}
