#if canImport(Glibc)
import Glibc
#endif
import CFuseShim
import Logging
import RecorderCore

/// How the tree is mounted.
public struct MountOptions: Sendable {
    public var allowOther = false
    /// libfuse prints every request.
    public var debug = false
    /// Worker threads at most: an operation may wait (bounded) for a drive
    /// transition or an earlier RELEASE that another worker must finish.
    public var maxThreads: UInt32 = 64
    /// The deadline of a call into a drive: a later request waits for the
    /// RELEASE of a lock handle at most this long.
    public var driveTimeout: Duration

    public init(allowOther: Bool = false, debug: Bool = false, driveTimeout: Duration = .seconds(5)) {
        self.allowOther = allowOther
        self.debug = debug
        self.driveTimeout = driveTimeout
    }
}

public enum SessionError: Error, CustomStringConvertible {
    case cannotCreate
    case cannotMount(String)

    public var description: String {
        switch self {
        case .cannotCreate: "libfuse could not create a session"
        case .cannotMount(let path): "cannot mount on \(path)"
        }
    }
}

/// A mounted FUSE session serving a `RecorderFileSystem`.
///
/// Lifecycle, as libfuse's examples: create the session, install signal
/// handlers, mount, loop; then tear down in strict reverse order.
public final class Session {
    private let fileSystem: RecorderFileSystem
    private let session: OpaquePointer
    private let options: MountOptions
    private let userdata: Unmanaged<RecorderFileSystem>
    public let mountPoint: String
    private var mounted = false

    public init(fileSystem: RecorderFileSystem, mountPoint: String, options: MountOptions) throws(SessionError) {
        self.fileSystem = fileSystem
        self.options = options
        self.mountPoint = mountPoint
        var mountOptions = "fsname=recorderfs,subtype=recorderfs,default_permissions"
        if options.allowOther { mountOptions += ",allow_other" }
        var arguments = ["recorderfs", "-o", mountOptions]
        if options.debug { arguments.append("-d") }
        userdata = Unmanaged.passRetained(fileSystem)
        var operations = Operations.table
        // Only the closing of a handle that holds locks changes what others
        // see, and only of its own recorder.
        rfs_set_release_key { inode, handle in
            RecorderFileSystem.releaseKey(inode: Inode(rawValue: inode), handle: handle)
        }
        // The worker that takes requests answers them too: it lets another
        // take them before it waits, or when a drive call takes long.
        Blocking.install(wait: rfs_pass_on_reading, driveCallBegins: rfs_drive_call_begins,
                         driveCallEnds: rfs_drive_call_ends)
        let (seconds, attoseconds) = options.driveTimeout.components
        rfs_set_release_wait(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
        var cArguments = arguments.map { strdup($0) }
        defer { cArguments.forEach { free($0) } }
        guard let session = rfs_session_new(Int32(cArguments.count), &cArguments, &operations, userdata.toOpaque()) else {
            userdata.release()
            throw .cannotCreate
        }
        self.session = session
        guard fuse_set_signal_handlers(session) == 0 else {
            fuse_session_destroy(session)
            userdata.release()
            throw .cannotCreate
        }
        guard fuse_session_mount(session, mountPoint) == 0 else {
            fuse_remove_signal_handlers(session)
            fuse_session_destroy(session)
            userdata.release()
            throw .cannotMount(mountPoint)
        }
        mounted = true
        let notifier = KernelNotifier(session: session)
        fileSystem.recorders.observe { notifier.changed($0) }
    }

    /// Serves requests until SIGTERM, SIGINT or an unmount; then unmounts.
    @discardableResult
    public func run() -> Int32 {
        let status = rfs_session_loop_ordered(session, options.maxThreads, 4)
        fuse_session_unmount(session)
        mounted = false
        return status
    }

    deinit {
        fileSystem.recorders.observe(nil)
        fuse_remove_signal_handlers(session)
        if mounted { fuse_session_unmount(session) }
        fuse_session_destroy(session)
        userdata.release()
    }
}

/// Tells the kernel that a recorder came or went, so that `ls` is right at
/// once instead of after the entry timeout.
private struct KernelNotifier: @unchecked Sendable {
    let session: OpaquePointer

    func changed(_ change: RecorderSet.Change) {
        switch change {
        case .added(let name, _):
            name.withCString { _ = fuse_lowlevel_notify_inval_entry(session, Inode.root.rawValue, $0, strlen($0)) }
            _ = fuse_lowlevel_notify_inval_inode(session, Inode.root.rawValue, 0, 0)
            _ = fuse_lowlevel_notify_inval_inode(session, Inode.byID.rawValue, 0, 0)
        case .removed(let name, let slot, let stableID):
            // notify_delete refuses a directory with cached children; dropping
            // the entry is enough, as its inode is never reused.
            name.withCString { _ = fuse_lowlevel_notify_inval_entry(session, Inode.root.rawValue, $0, strlen($0)) }
            if let stableID {
                stableID.withCString {
                    _ = fuse_lowlevel_notify_delete(session, Inode.byID.rawValue, Inode(linkOf: slot).rawValue, $0, strlen($0))
                }
            }
            _ = fuse_lowlevel_notify_inval_inode(session, Inode.root.rawValue, 0, 0)
        }
    }
}
