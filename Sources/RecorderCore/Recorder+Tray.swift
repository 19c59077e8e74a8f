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
    /// refused under another holder (E_IMAPI_RECORDER_LOCKED). A handle
    /// whose claim is under way is the holder (design.md §4).
    func trayCommand(_ caller: Caller, _ overrun: Overrun?, _ command: () throws(DriveError) -> Void) throws(RecorderError) {
        try table.withLock { (table) throws(RecorderError) in try Self.allowTray(table, caller) }
        var refusal: RecorderError?
        guard let result = calls.call(deadline: deadline(), overrun: overrun, { () throws(DriveError) in
            // Asked again once the drive is this call's: a claim that began
            // while it waited for the drive has made another holder. (A
            // claim that begins now waits for this call.)
            do throws(RecorderError) {
                try table.withLock { (table) throws(RecorderError) in try Self.allowTray(table, caller) }
            } catch {
                refusal = error
                return
            }
            try command()
        }, late: { _ in }) else { throw .timedOut }
        if let refusal { throw refusal }
        do {
            try result.get()
        } catch {
            throw mapLogging(error)
        }
    }

    private static func allowTray(_ table: borrowing Table, _ caller: Caller) throws(RecorderError) {
        if table.removed { throw .noDevice }
        if let holder = table.holder ?? table.claimant, holder.uid != caller.uid, !caller.isRoot {
            throw .busy("locked by \(holder.name) (uid \(holder.uid))")
        }
    }
}
