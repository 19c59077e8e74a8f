import CFuseShim

/// The version of the libfuse recorderfs runs with, e.g. "3.14.0"
/// (fuse_pkgversion()), for `recorderfs --version`.
public var libfuseVersion: String {
    String(cString: fuse_pkgversion())
}
