#if canImport(Glibc)
import Glibc
#endif
import CFuseShim
import Logging
import RecorderCore
import RequestLoop

extension BlockingHooks {
    /// The request loop's: the worker that takes requests answers them
    /// too, so it lets another take them before it waits, or when a drive
    /// call takes long (docs/request-loop.md).
    public static let requestLoop = BlockingHooks(
        willWait: { rfs_pass_on_reading() },
        driveCallBegins: { rfs_drive_call_begins() },
        driveCallEnds: { rfs_drive_call_ends() })
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
    private var signalHandlersInstalled = false

    public init(fileSystem: RecorderFileSystem, mountPoint: String, options: MountOptions) throws(SessionError) {
        self.fileSystem = fileSystem
        self.options = options
        self.mountPoint = mountPoint
        var mountOptions = "fsname=recorderfs,subtype=recorderfs,default_permissions"
        if options.allowOther { mountOptions += ",allow_other" }
        var arguments = ["recorderfs", "-o", mountOptions]
        if options.debug { arguments.append("-d") }
        userdata = Unmanaged.passRetained(fileSystem)
        if let failure = rfs_fuse_load() {
            userdata.release()
            throw .libraryMissing(String(cString: failure))
        }
        var operations = Operations.table
        var cArguments = arguments.map { strdup($0) }
        defer { cArguments.forEach { free($0) } }
        guard let session = rfs_session_new(Int32(cArguments.count), &cArguments, &operations, userdata.toOpaque()) else {
            userdata.release()
            throw .cannotCreate
        }
        // From here on every stored property is set: a throw releases the
        // object and deinit tears down what was set up (once).
        self.session = session
        guard fuse_set_signal_handlers(session) == 0 else { throw .cannotCreate }
        signalHandlersInstalled = true
        // libfuse and fusermount3 explain a failed mount on stderr, in lines
        // of their own: caught, and made part of the one error.
        let (status, said) = StandardErrorCapture.around { fuse_session_mount(session, mountPoint) }
        guard status == 0 else {
            said.others.forEach(StandardErrorCapture.write)
            throw .cannotMount(mountPoint, reason: said.reason)
        }
        StandardErrorCapture.write(said.all)
        mounted = true
        SessionGate.opened()
        let notifier = KernelNotifier(session: session)
        let recorders = fileSystem.recorders, events = fileSystem.events
        recorders.observe { change in
            notifier.changed(change)
            events.recorderSetChanged(change, recorders)
        }
    }

    /// Serves requests until SIGTERM, SIGINT or an unmount; then unmounts.
    @discardableResult
    public func run() -> Int32 {
        var config = rfs_loop_config(
            max_threads: options.maxThreads, idle_threads: 4,
            release_wait_ns: options.driveTimeout.nanoseconds,
            // Only the closing of a handle that holds locks changes what
            // others see, and only of its own recorder.
            release_key: { _, inode, handle in RecorderFileSystem.releaseKey(inode: Inode(rawValue: inode), handle: handle) },
            context: nil,
            reader_answers: Operations.readerAnswers)
        let status = rfs_loop_run(session, &config)
        // Nothing answers into the session from now on; what is parked is
        // let go while libfuse's session still exists.
        SessionGate.close { ParkedRequest.letGoOfAll() }
        fuse_session_unmount(session)
        mounted = false
        // Recorders that go from now on (the daemon's end) concern nobody here.
        fileSystem.recorders.observe(nil)
        return status
    }

    deinit {
        // Also when `run` never ran (a failed start).
        SessionGate.close { ParkedRequest.letGoOfAll() }
        fileSystem.recorders.observe(nil)
        if signalHandlersInstalled { fuse_remove_signal_handlers(session) }
        if mounted { fuse_session_unmount(session) }
        fuse_session_destroy(session)
        userdata.release()
    }
}

/// Tells the kernel that a recorder came or went, so that `ls` is right at
/// once instead of after the entry timeout.
private struct KernelNotifier: @unchecked Sendable {
    let session: OpaquePointer

    /// Not under the gate: an invalidation waits in the kernel for the
    /// directory's lock, which a lookup the ended loop will never answer may
    /// hold until the unmount, and the gate's close comes before it. The
    /// hotplug thread that calls this is stopped before the session is
    /// freed (`Mount`), and after the unmount libfuse writes nothing.
    func changed(_ change: RecorderSet.Change) {
        if SessionGate.isOpen { tell(change) }
    }

    private func tell(_ change: RecorderSet.Change) {
        switch change {
        case .added(let name, _):
            name.withCString { _ = fuse_lowlevel_notify_inval_entry(session, Inode.root.rawValue, $0, strlen($0)) }
            _ = fuse_lowlevel_notify_inval_inode(session, Inode.root.rawValue, 0, 0)
            _ = fuse_lowlevel_notify_inval_inode(session, Inode.byID.rawValue, 0, 0)
        case .removed(let name, let slot, let stableID, _):
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
