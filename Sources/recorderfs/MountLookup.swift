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

/// The recorderfs mount at `path`, if there is one.
func recorderfsMount(at path: String) -> MountTable.Entry? {
    guard let table = try? MountTable.current(), let entry = table.entry(at: path) else { return nil }
    return entry.fileSystemType == "fuse.recorderfs" ? entry : nil
}

/// The mountpoint of an existing mount that `status`, `hold`, `wait` and
/// `unmount` use: the one given, else `$RECORDERFS_MOUNTPOINT`, else the only live recorderfs mount
/// of this mount namespace, else /recorders.
func chosenMountPoint(_ given: String?) -> String {
    if let given { return given }
    if let variable = getenv("RECORDERFS_MOUNTPOINT"), variable.pointee != 0 { return String(cString: variable) }
    let table = (try? MountTable.current())?.entries ?? []
    let mounts = Set(table.filter { $0.fileSystemType == "fuse.recorderfs" }.map(\.mountPoint)).filter(isConnected)
    if mounts.count == 1, let only = mounts.first { return only }
    return "/recorders"
}
