import CFuseShim

/// The libfuse recorderfs runs with, for `recorderfs --version`: "libfuse
/// 3.14.0" (fuse_pkgversion()), or why libfuse3 cannot be loaded (only the
/// daemon needs it).
public var libfuseDescription: String {
    if let failure = rfs_fuse_load() { return String(cString: failure) }
    return "libfuse " + String(cString: fuse_pkgversion())
}
