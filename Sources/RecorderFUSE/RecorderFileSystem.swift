#if canImport(Glibc)
import Glibc
#endif
import CFuseShim
import Logging
import RecorderCore
import RequestLoop
import Synchronization

/// The tree of docs/design.md §1 over a set of recorders. It only
/// translates: every decision about locks is the core's.
public final class RecorderFileSystem: Sendable {
    /// Recorders by slot; a slot is part of the inode numbers.
    let recorders: RecorderSet
    let attributeTimeout: Double
    let mountTime: timespec
    let logger: Logger
    /// Every handle counts in its user's usage.
    let limits: UsageLimits
    /// `events`, and the pollers of value files.
    let events: EventHub

    public init(recorders: RecorderSet, limits: UsageLimits, events: EventHub, attributeTimeout: Double = 1.0,
                logger: Logger) {
        self.recorders = recorders
        self.limits = limits
        self.events = events
        self.attributeTimeout = attributeTimeout
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        mountTime = now
        self.logger = logger
    }

    func recorder(_ slot: Int) -> Recorder? {
        recorders.recorder(slot: slot)
    }

    // MARK: Attributes

    func attributes(of inode: Inode) -> stat? {
        guard let node = inode.node else { return nil }
        var attributes = stat()
        attributes.st_ino = UInt(inode.rawValue)
        attributes.st_atim = mountTime
        attributes.st_mtim = mountTime
        attributes.st_ctim = mountTime
        attributes.st_blksize = 4096
        switch node {
        case .root:
            attributes.st_mode = S_IFDIR | 0o555
            attributes.st_nlink = 3 + UInt(recorders.entries.count)
        case .byID:
            attributes.st_mode = S_IFDIR | 0o555
            attributes.st_nlink = 2
        case .events:
            attributes.st_mode = S_IFREG | 0o444
            attributes.st_nlink = 1
        case .link(let slot):
            guard let entry = recorders.entry(slot: slot), entry.stableID != nil else { return nil }
            attributes.st_mode = S_IFLNK | 0o777
            attributes.st_nlink = 1
            attributes.st_size = Int(linkTarget(entry.recorder).utf8.count)
        case .directory(let slot):
            guard recorder(slot) != nil else { return nil }
            attributes.st_mode = S_IFDIR | 0o555
            attributes.st_nlink = 2
        case .file(let file, let slot):
            guard let recorder = recorder(slot) else { return nil }
            attributes.st_nlink = 1
            attributes.st_size = 4096
            if file.isControl {
                // Whoever may open the device node may lock it (docs/design.md §6).
                var device = stat()
                if stat(recorder.drive.node, &device) == 0 {
                    attributes.st_uid = device.st_uid
                    attributes.st_gid = device.st_gid
                    attributes.st_mode = S_IFREG | (device.st_mode & 0o222)
                } else {
                    attributes.st_mode = S_IFREG | 0o200
                }
            } else {
                attributes.st_mode = S_IFREG | 0o444
            }
        }
        return attributes
    }

    func entry(for inode: Inode) -> fuse_entry_param? {
        guard let attributes = attributes(of: inode) else { return nil }
        var entry = fuse_entry_param()
        entry.ino = inode.rawValue
        entry.attr = attributes
        entry.attr_timeout = attributeTimeout
        entry.entry_timeout = attributeTimeout
        return entry
    }

    // MARK: Operations

    func lookup(_ request: consuming Request, parent: Inode, name: String) {
        let child: Inode?
        switch parent.node {
        case .root:
            switch name {
            case "by-id": child = .byID
            case "events": child = .events
            default: child = recorders.slot(named: name).map { Inode(directoryOf: $0) }
            }
        case .byID:
            child = recorders.slot(stableID: name).map { Inode(linkOf: $0) }
        case .directory(let slot):
            child = RecorderFile.byName[name].map { Inode(file: $0, of: slot) }
        default:
            return request.fail(ENOTDIR)
        }
        guard let child, let entry = entry(for: child) else { return request.fail(ENOENT) }
        request.reply(entry: entry)
    }

    func getattr(_ request: consuming Request, inode: Inode) {
        guard let attributes = attributes(of: inode) else { return request.fail(ENOENT) }
        request.reply(attributes: attributes, timeout: attributeTimeout)
    }

    /// `echo X > file` truncates first: a truncation to 0 of a control file
    /// is accepted and does nothing. Nothing else can be changed.
    func setattr(_ request: consuming Request, inode: Inode, attributes: stat, toSet: Int32) {
        guard case .file(let file, _) = inode.node, let current = self.attributes(of: inode) else {
            return request.fail(inode.node == nil ? ENOENT : EPERM)
        }
        let timeBits = FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_ATIME_NOW
            | FUSE_SET_ATTR_MTIME_NOW | FUSE_SET_ATTR_CTIME
        let truncation = toSet & FUSE_SET_ATTR_SIZE != 0
        guard file.isControl, truncation, attributes.st_size == 0, toSet & ~(FUSE_SET_ATTR_SIZE | timeBits) == 0 else {
            return request.fail(EPERM)
        }
        request.reply(attributes: current, timeout: attributeTimeout)
    }

    func open(_ request: consuming Request, inode: Inode, info: UnsafeMutablePointer<fuse_file_info>) {
        if inode == .events { return openEvents(request, info: info) }
        guard case .file(let file, let slot) = inode.node else { return request.fail(inode.node == nil ? ENOENT : EISDIR) }
        guard let recorder = recorder(slot) else { return request.fail(ENOENT) }
        let access = info.pointee.flags & O_ACCMODE
        guard access == (file.isControl ? O_WRONLY : O_RDONLY) else { return request.fail(EACCES) }
        if file.takesLocks || !file.isControl {
            // Every handle the daemon keeps something for counts in its
            // user's usage (root has no limit); release, eject and closetray
            // keep nothing (design.md §6).
            let caller = request.caller
            do {
                try admit(caller, recorder)
            } catch {
                return request.fail(error)
            }
            info.pointee.fh = OpenFile.box(file.takesLocks
                ? .lock(recorder.makeHandle(countedFor: caller.uid))
                : .value(ValueHandle(uid: caller.uid, limits: recorder.limits, changes: recorder.changes)))
            if file.waits {
                // Its writes wait: they must not hold the inode's lock against
                // other writers (FOPEN_PARALLEL_DIRECT_WRITES).
                if !request.reply(openWithParallelWrites: info.pointee.fh) {
                    OpenFile.unbox(info.pointee.fh)?.closed()
                }
                return
            }
        }
        rfs_fi_set_direct_io(info)
        // Nothing happens at close(2) but the RELEASE of the last one, which
        // the loop orders (see rfs_wait_for_earlier_releases): no FLUSH.
        rfs_fi_set_noflush(info)
        request.reply(open: info)
    }

    /// Counts one more handle of `caller`. At the limit, handles closed
    /// before this open may still be on their way (RELEASE comes after
    /// close(2) returns): they are waited for once, and counted again.
    private func admit(_ caller: Caller, _ recorder: Recorder?) throws(RecorderError) {
        do {
            try limits.openHandle(uid: caller.uid)
        } catch {
            rfs_wait_for_earlier_releases(RFS_EVERY_RELEASE)
            do {
                try limits.openHandle(uid: caller.uid)
            } catch {
                logger.notice("refused", metadata: [
                    "recorder": "\(recorder?.name ?? "-")", "op": "open", "pid": "\(caller.pid)", "uid": "\(caller.uid)",
                    "reason": "\(error)",
                ])
                throw error
            }
        }
    }

    /// `events`: a stream from the open onwards, read like a pipe.
    private func openEvents(_ request: consuming Request, info: UnsafeMutablePointer<fuse_file_info>) {
        guard info.pointee.flags & O_ACCMODE == O_RDONLY else { return request.fail(EACCES) }
        let caller = request.caller
        do {
            try admit(caller, nil)
        } catch {
            return request.fail(error)
        }
        let reader = EventsReader(uid: caller.uid, limits: limits)
        events.add(reader)
        info.pointee.fh = OpenFile.box(.events(reader))
        rfs_fi_set_direct_io(info)
        rfs_fi_set_nonseekable(info)
        rfs_fi_set_noflush(info)
        request.reply(open: info)
    }

    /// The key under which the loop orders a RELEASE (see loop.c): the
    /// recorder's, for a lock handle that holds locks; none otherwise.
    static func releaseKey(inode: Inode, handle: UInt64) -> UInt64 {
        guard case .file(let file, let slot) = inode.node, file.takesLocks,
              OpenFile.withLockHandle(handle, \.holdsLocks) == true else { return 0 }
        return orderKey(slot)
    }

    /// The key of the RELEASEs a request of recorder `slot` waits for.
    static func orderKey(_ slot: Int) -> UInt64 { UInt64(slot) + 1 }

    func read(_ request: consuming Request, inode: Inode, size: Int, offset: Int, handle: UInt64, flags: Int32) {
        let open = OpenFile.from(handle)
        if case .events(let reader) = open {
            return reader.read(request, size: size, nonBlocking: flags & O_NONBLOCK != 0)
        }
        guard case .file(let file, let slot) = inode.node, !file.isControl else { return request.fail(EBADF) }
        guard let recorder = recorder(slot) else { return gone(request, file) }
        guard case .value(let value) = open else { return request.fail(EBADF) }
        // The locks of every file of this recorder closed before this
        // request was sent are gone.
        rfs_wait_for_earlier_releases(Self.orderKey(slot))
        let bytes: ArraySlice<UInt8>
        do {
            bytes = try value.read(at: offset, count: size) { () throws(RecorderError) in
                try content(of: file, recorder, reader: request.caller.pid)
            }
        } catch {
            return request.fail(error)
        }
        request.reply(data: bytes)
    }

    func write(_ request: consuming Request, inode: Inode, data: UnsafeRawBufferPointer, handle: UInt64, appending: Bool) {
        guard case .file(let file, let slot) = inode.node, file.isControl else { return request.fail(EBADF) }
        let caller = request.caller
        // The locks of every file of this recorder closed before this
        // request was sent are gone.
        rfs_wait_for_earlier_releases(Self.orderKey(slot))
        // A lock file acts on its handle, the other control files on the recorder.
        let lockHandle = OpenFile.lockHandle(handle)
        let recorder = lockHandle?.recorder ?? recorder(slot)
        if file.takesLocks && lockHandle == nil { return request.fail(EBADF) }
        guard let recorder else { return gone(request, file) }
        // A nest (the holding handle writes its name again) calls no drive:
        // decided at once, with no name to make and no Overrun.
        if file.takesLocks && !file.waits, let lockHandle,
           recorder.nestIfHolding(lockHandle, written: data, caller: caller) {
            return request.reply(written: data.count)
        }
        // The name written, parsed here: the core takes typed values only.
        var name: ClientName?
        if file.takesLocks || file == .release {
            do {
                name = try ClientName(parsing: data)
            } catch {
                recorder.refused(file.name, caller: caller, error)
                return request.fail(error)
            }
        }
        if file.waits {
            // The kernel holds the file's inode lock through a write in
            // append mode: one that waits here would make every other
            // writer of acquire_wait wait for it, deaf to signals.
            if appending {
                logger.notice("refused", metadata: [
                    "recorder": "\(recorder.name)", "op": "acquire_wait", "pid": "\(caller.pid)", "uid": "\(caller.uid)",
                    "reason": "written in append mode",
                ])
                return request.fail(EINVAL)
            }
            return waitForLock(request, lockHandle!, name: name!, written: data.count, caller: caller)
        }
        let overrun = request.overrun(written: data.count)
        let outcome = Result { () throws(RecorderError) in
            switch file {
            case .eject: try recorder.eject(caller: caller, overrun: overrun)
            case .closetray: try recorder.closeTray(caller: caller, overrun: overrun)
            case .release: try recorder.release(name!, caller: caller, overrun: overrun)
            default: try lockHandle!.acquire(name!, caller: caller, force: file == .acquireForce, overrun: overrun)
            }
        }
        // The watchdog answered already if the drive held this past the deadline.
        guard overrun.settle() else { return request.abandon() }
        switch outcome {
        case .success: request.reply(written: data.count)
        case .failure(let error): request.fail(error)
        }
    }

    /// A write to `acquire_wait`: answered once the lock is taken (or
    /// refused for another reason than a holder); until then it waits
    /// parked, in line behind the writers that came first, and a signal to
    /// the writer ends the wait with EINTR.
    private func waitForLock(_ request: consuming Request, _ handle: LockHandle, name: ClientName, written count: Int,
                             caller: Caller) {
        let parked = ParkedRequest.park(request)
        let waiter = handle.recorder.acquireWaiting(name, handle: handle, caller: caller, force: false) { outcome in
            parked.answer { request in
                if let outcome { fuse_reply_err(request, outcome.errno) } else { fuse_reply_write(request, count) }
            }
        }
        let recorder = handle.recorder
        parked.listen { recorder.cancel(waiter) }
    }

    func release(_ request: consuming Request, inode: Inode, handle: UInt64) {
        let open = OpenFile.unbox(handle)
        if case .value(let value) = open, case .file(let file, let slot) = inode.node, file.isPollable,
           let recorder = recorders.recorder(slot: slot) {
            events.forgetPoller(value, of: recorder.name)
        }
        if case .events(let reader) = open { events.remove(reader) }
        open?.closed()
        request.succeed()
    }

    /// poll(2): value files are always readable, and tell a change since
    /// the handle's last read (as sysfs does: POLLPRI | POLLERR); `events`
    /// is readable when an event waits.
    func poll(_ request: consuming Request, inode: Inode, handle: UInt64, pollHandle raw: OpaquePointer?) {
        let pollHandle = raw.map(PollHandle.init)
        let open = OpenFile.from(handle)
        if case .events(let reader) = open { return request.reply(poll: reader.poll(pollHandle)) }
        let readable = Int32(POLLIN | POLLRDNORM)
        guard case .file(let file, let slot) = inode.node, file.isPollable, case .value(let value) = open else {
            pollHandle?.destroy()
            return request.reply(poll: inode.node == nil ? Int32(POLLERR) : readable)
        }
        guard let recorder = recorder(slot) else {
            pollHandle?.destroy()
            return request.reply(poll: Int32(POLLERR | POLLHUP))
        }
        // Registered first, so that a change right after the look below wakes it.
        if let pollHandle { events.pollLater(value, of: recorder.name, pollHandle) }
        let changed = value.changed(since: recorder.changes) { () throws(RecorderError) in try content(of: file, recorder) }
        request.reply(poll: changed ? readable | Int32(POLLPRI | POLLERR) : readable)
    }

    func readdir(_ request: consuming Request, inode: Inode, size: Int, offset: Int) {
        var entries: [(name: String, inode: Inode, mode: mode_t)] = []
        switch inode.node {
        case .root:
            entries = [(".", .root, S_IFDIR), ("..", .root, S_IFDIR), ("by-id", .byID, S_IFDIR), ("events", .events, S_IFREG)]
            for entry in recorders.entries {
                entries.append((entry.recorder.name, Inode(directoryOf: entry.slot), S_IFDIR))
            }
        case .byID:
            entries = [(".", .byID, S_IFDIR), ("..", .root, S_IFDIR)]
            for entry in recorders.entries {
                if let id = entry.stableID { entries.append((id, Inode(linkOf: entry.slot), S_IFLNK)) }
            }
        case .directory(let slot):
            entries = [(".", Inode(directoryOf: slot), S_IFDIR), ("..", .root, S_IFDIR)]
            for file in RecorderFile.allCases {
                entries.append((file.name, Inode(file: file, of: slot), S_IFREG))
            }
        case .file, .link, .events:
            return request.fail(ENOTDIR)
        case nil:
            return request.fail(ENOENT)
        }
        request.reply(directory: entries, size: size, offset: offset)
    }

    /// An operation on a handle of a recorder that went away: ENODEV,
    /// logged once like every refusal.
    private func gone(_ request: consuming Request, _ file: RecorderFile) {
        let caller = request.caller
        logger.notice("refused", metadata: [
            "op": "\(file.name)", "pid": "\(caller.pid)", "uid": "\(caller.uid)",
            "reason": "\(RecorderError.noDevice)",
        ])
        request.fail(.noDevice)
    }

    /// What a value file holds now: one value, ending in "\n" (sysfs rules).
    /// `reader` is the pid of the process that reads, for the pids of
    /// `holders` as its pid namespace sees them (0: the daemon's own view).
    func content(of file: RecorderFile, _ recorder: Recorder, reader: Int32 = 0) throws(RecorderError) -> [UInt8] {
        switch file {
        case .owner:
            guard let holder = try recorder.snapshot().holder else { return [] }
            return Array(holder.name.value.utf8) + [UInt8(ascii: "\n")]
        case .lockcount:
            return Array("\(try recorder.snapshot().lockCount)\n".utf8)
        case .device:
            return line(recorder.drive.node)
        case .vendor:
            return line(try recorder.description().vendor)
        case .model:
            return line(try recorder.description().model)
        case .revision:
            return line(try recorder.description().revision)
        case .serial:
            return line(try recorder.description().serial)
        case .capabilities:
            return line(try recorder.description().capabilities?.joined(separator: " "))
        case .media:
            return line(try recorder.description().media)
        case .sg:
            return line(try recorder.description().genericNode)
        case .volumes:
            return Array(try recorder.volumes().map { $0 + "\n" }.joined().utf8)
        case .holders:
            return Array(try recorder.holders().map { record -> String in
                var seen = record
                if reader > 0 { seen.pid = PidNamespace.pid(record.pid, asSeenBy: reader) ?? 0 }
                return seen.line + "\n"
            }.joined().utf8)
        case .generation:
            return line("\(try recorder.snapshot().generation)")
        case .state:
            return line(recorder.claimState().line)
        case .acquire, .acquireForce, .acquireWait, .release, .eject, .closetray:
            return []
        }
    }

    /// One value and its newline; nothing at all when the value is unknown.
    private func line(_ value: String?) -> [UInt8] {
        guard let value, !value.isEmpty else { return [] }
        return Array(value.utf8) + [UInt8(ascii: "\n")]
    }

    func readlink(_ request: consuming Request, inode: Inode) {
        guard case .link(let slot) = inode.node, let recorder = recorder(slot) else { return request.fail(ENOENT) }
        request.reply(link: linkTarget(recorder))
    }

    func linkTarget(_ recorder: Recorder) -> String { "../\(recorder.name)" }
}
