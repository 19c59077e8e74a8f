#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import RecorderCore

/// The absolute, symlink-free form of an existing path.
func resolvedPath(_ path: String) -> String? {
    guard let resolved = realpath(path, nil) else { return nil }
    defer { free(resolved) }
    return String(cString: resolved)
}

/// `path` made absolute without touching it (a dead mount cannot be resolved).
func absolutePath(_ path: String) -> String {
    if path.hasPrefix("/") { return path }
    guard let directory = getcwd(nil, 0) else { return path }
    defer { free(directory) }
    return String(cString: directory) + "/" + path
}

/// The form of a mountpoint that the mount table shows: the one function
/// `mount`, `unmount` and `status` compare the table with.
///
/// realpath when it works; a stale mount (its daemon killed) cannot be
/// resolved, as every lookup in it fails with ENOTCONN, so then the path is
/// made absolute, `.`, `..`, `//` and a trailing `/` are removed as text, and
/// only its parent is resolved.
func normalizedMountPoint(_ path: String) -> String {
    guard !path.isEmpty else { return path }
    if let resolved = resolvedPath(path) { return resolved }
    let lexical = lexicallyNormalized(absolutePath(path))
    guard lexical != "/", let slash = lexical.lastIndex(of: "/") else { return lexical }
    let parent = slash == lexical.startIndex ? "/" : String(lexical[..<slash])
    let last = lexical[lexical.index(after: slash)...]
    guard let resolvedParent = resolvedPath(parent) else { return lexical }
    return (resolvedParent == "/" ? "" : resolvedParent) + "/" + last
}

/// An absolute path without `.`, `..`, empty components and a trailing `/`.
func lexicallyNormalized(_ absolute: String) -> String {
    var components: [Substring] = []
    for component in absolute.split(separator: "/") {
        switch component {
        case ".": continue
        case "..": if !components.isEmpty { components.removeLast() }
        default: components.append(component)
        }
    }
    return "/" + components.joined(separator: "/")
}

func isDirectory(_ path: String) -> Bool {
    FileStatus(path: path)?.isDirectory == true
}

/// What the symbolic link at `path` points to, or nil.
func linkTarget(_ path: String) -> String? {
    var buffer = [CChar](repeating: 0, count: 4096)
    let count = readlink(path, &buffer, buffer.count - 1)
    guard count >= 0 else { return nil }
    return String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

/// The names in the directory at `path`, without "." and "..".
func directoryEntries(_ path: String) -> [String] {
    guard let directory = opendir(path) else { return [] }
    defer { closedir(directory) }
    var names: [String] = []
    while let entry = readdir(directory) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
        if name != "." && name != ".." { names.append(name) }
    }
    return names
}
