#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import RecorderCore

/// A recorder's directory in a mounted tree.
struct RecorderLocation {
    /// The mountpoint of its tree (normalised), e.g. /recorders; in a
    /// container given one recorder by a bind mount, that mount itself.
    var mountPoint: String
    /// Its name, e.g. sr0.
    var name: String
    /// The recorder's directory, e.g. /recorders/sr0.
    var directory: String

    init(mountPoint: String, name: String, directory: String? = nil) {
        self.mountPoint = mountPoint
        self.name = name
        self.directory = directory ?? "\(mountPoint)/\(name)"
    }

    func path(_ file: String) -> String { "\(directory)/\(file)" }
}

/// The recorder whose directory is at `path` (any path that resolves to
/// one); nil when it is not a recorder directory of a recorderfs mount.
func recorderDirectory(at path: String) -> RecorderLocation? {
    // A recorder directory bind-mounted on its own (a container's).
    guard let resolved = resolvedPath(path) else { return nil }
    let table = try? MountTable.current()
    if recorderfsMount(at: resolved, in: table) != nil, isRecorderDirectory(resolved),
       let name = resolved.split(separator: "/").last.map(String.init) {
        return RecorderLocation(mountPoint: resolved, name: name, directory: resolved)
    }
    guard let slash = resolved.lastIndex(of: "/"),
          case let parent = slash == resolved.startIndex ? "/" : String(resolved[..<slash]),
          case let name = String(resolved[resolved.index(after: slash)...]),
          !name.isEmpty, name != "by-id", recorderfsMount(at: parent, in: table) != nil, isDirectory(resolved) else { return nil }
    return RecorderLocation(mountPoint: parent, name: name)
}

/// The recorder named `recorder` (or the recorder directory at that path,
/// when it holds a `/`) under the mountpoint `chosenMountPoint(given)`.
func locateRecorder(_ recorder: String, mountPoint given: String?) throws -> RecorderLocation {
    if recorder.contains(bytes: "/") {
        guard let location = recorderDirectory(at: recorder) else {
            throw Failure("\(recorder) is not a recorder directory.")
        }
        return location
    }
    let table = try? MountTable.current()
    let mountPoint = chosenMountPoint(given, in: table)
    let normalized = normalizedMountPoint(mountPoint)
    guard recorderfsMount(at: normalized, in: table) != nil else {
        throw Failure("\(mountPoint) is not a recorderfs mount.")
    }
    try requireDaemon(of: normalized, given: mountPoint)
    guard ![".", "..", "by-id"].contains(recorder), isDirectory("\(normalized)/\(recorder)") else {
        let names = (try? recorderNames(in: normalized)) ?? []
        let known = names.isEmpty ? "none" : names.joined(separator: " ")
        throw Failure("no recorder \(recorder) on \(mountPoint) (recorders: \(known)).")
    }
    return RecorderLocation(mountPoint: normalized, name: recorder)
}

/// The recorders of the tree mounted on `mountPoint`, sorted by name.
func recorderNames(in mountPoint: String) throws -> [String] {
    guard let directory = opendir(mountPoint) else {
        throw Failure("cannot list \(mountPoint): \(errorText(errno)).")
    }
    defer { closedir(directory) }
    var names: [String] = []
    while let entry = readdir(directory) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
        if name != "." && name != ".." && name != "by-id" && entry.pointee.d_type == DT_DIR { names.append(name) }
    }
    return names.sorted()
}

/// Whether `path` is a recorder's directory (it has `acquire` and `owner`).
func isRecorderDirectory(_ path: String) -> Bool {
    access("\(path)/acquire", F_OK) == 0 && access("\(path)/owner", F_OK) == 0
}
