#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import RecorderCore

/// Whether a daemon still serves the FUSE mount at `path`: a mount whose
/// daemon is gone answers ENOTCONN.
func isConnected(_ path: String) -> Bool {
    var info = statvfs()
    return statvfs(path, &info) == 0 || errno != ENOTCONN
}

/// Throws the sentence for a mount whose daemon is gone (a stale mount:
/// every access fails with ENOTCONN), which says what to do.
func requireDaemon(of mountPoint: String, given: String) throws {
    guard isConnected(mountPoint) else {
        throw Failure("the daemon of \(given) is gone: run 'recorderfs unmount \(given)' (then mount again).")
    }
}

/// The recorderfs mount at `path` in `table` (by default, read now), if there is one.
func recorderfsMount(at path: String, in table: MountTable? = try? MountTable.current()) -> MountTable.Entry? {
    guard let entry = table?.entry(at: path) else { return nil }
    return entry.fileSystemType == "fuse.recorderfs" ? entry : nil
}

/// The mountpoint of an existing mount that `status`, `hold`, `wait` and
/// `unmount` use: the one given, else `$RECORDERFS_MOUNTPOINT`, else the only live recorderfs mount
/// of this mount namespace, else /recorders.
func chosenMountPoint(_ given: String?, in mounts: @autoclosure () -> MountTable? = try? MountTable.current()) -> String {
    if let given { return given }
    if let variable = getenv("RECORDERFS_MOUNTPOINT"), variable.pointee != 0 { return String(cString: variable) }
    let table = mounts()?.entries ?? []
    let mounts = Set(table.filter { $0.fileSystemType == "fuse.recorderfs" }.map(\.mountPoint)).filter(isConnected)
    if mounts.count == 1, let only = mounts.first { return only }
    return "/recorders"
}
