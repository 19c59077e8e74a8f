#if canImport(Glibc)
import Glibc
#endif
import CFuseShim
import RecorderCore

/// One FUSE request, answered exactly once.
///
/// The reply methods consume the request; a request dropped without a reply
/// answers EIO by itself, so a forgotten path can never hang the caller.
struct Request: ~Copyable {
    private let raw: fuse_req_t

    init(_ raw: fuse_req_t) { self.raw = raw }

    deinit { fuse_reply_err(raw, EIO) }

    var caller: Caller {
        let context = fuse_req_ctx(raw)!.pointee
        return Caller(pid: context.pid, uid: context.uid, gid: context.gid)
    }

    /// Lets the watchdog answer this request while its handler is held in a
    /// drive past the deadline: nil answers success (`written` bytes), an
    /// error its errno. The handler then asks `Overrun.settle()` before it
    /// answers, and abandons the request when the watchdog answered.
    func overrun(written count: Int) -> Overrun {
        // The answer captures nothing: the request and the count travel in
        // the Overrun, one allocation per write instead of two.
        Overrun(request: UInt(bitPattern: raw), count: count) { outcome, raw, count in
            let request = fuse_req_t(bitPattern: raw)
            if let outcome {
                fuse_reply_err(request, outcome.errno)
            } else {
                fuse_reply_write(request, count)
            }
        }
    }

    /// Drops a request that has been answered by its `Overrun`.
    consuming func abandon() {
        discard self
    }

    /// Gives up the request for an answer that comes later (`ParkedRequest`).
    consuming func park() -> fuse_req_t {
        let raw = self.raw
        discard self
        return raw
    }

    /// Answers an open of a lock file whose writes may wait
    /// (`acquire_wait`): writes through other handles are not held behind
    /// them. False when the opener is gone (no RELEASE will come).
    consuming func reply(openWithParallelWrites handle: UInt64) -> Bool {
        let sent = rfs_reply_open_parallel_writes(raw, handle)
        discard self
        return sent != -ENOENT
    }

    consuming func reply(poll events: Int32) {
        fuse_reply_poll(raw, UInt32(events))
        discard self
    }

    consuming func fail(_ code: Int32) {
        fuse_reply_err(raw, code)
        discard self
    }

    consuming func fail(_ error: RecorderError) {
        fail(error.errno)
    }

    consuming func succeed() {
        fuse_reply_err(raw, 0)
        discard self
    }

    consuming func reply(entry: fuse_entry_param) {
        var entry = entry
        fuse_reply_entry(raw, &entry)
        discard self
    }

    consuming func reply(attributes: stat, timeout: Double) {
        var attributes = attributes
        fuse_reply_attr(raw, &attributes, timeout)
        discard self
    }

    consuming func reply(open info: UnsafeMutablePointer<fuse_file_info>) {
        fuse_reply_open(raw, info)
        discard self
    }

    consuming func reply(link target: String) {
        fuse_reply_readlink(raw, target)
        discard self
    }

    consuming func reply(written count: Int) {
        fuse_reply_write(raw, count)
        discard self
    }

    consuming func reply(data: ArraySlice<UInt8>) {
        _ = data.withUnsafeBytes { fuse_reply_buf(raw, $0.baseAddress?.assumingMemoryBound(to: CChar.self), $0.count) }
        discard self
    }

    /// Fills a readdir buffer of at most `size` bytes with `entries` from
    /// `offset` on.
    consuming func reply(directory entries: [(name: String, inode: Inode, mode: mode_t)], size: Int, offset: Int) {
        var buffer = [CChar](repeating: 0, count: size)
        var used = 0
        var index = offset
        while index < entries.count {
            let entry = entries[index]
            var attributes = stat()
            attributes.st_ino = UInt(entry.inode.rawValue)
            attributes.st_mode = entry.mode
            let needed = buffer.withUnsafeMutableBufferPointer { memory in
                fuse_add_direntry(raw, memory.baseAddress! + used, size - used, entry.name, &attributes, off_t(index + 1))
            }
            if needed > size - used { break }
            used += needed
            index += 1
        }
        _ = buffer.withUnsafeBufferPointer { fuse_reply_buf(raw, $0.baseAddress, used) }
        discard self
    }
}

extension RecorderError {
    /// The errno of docs/design.md §5: the one place the core's errors meet the kernel.
    var errno: Int32 {
        switch self {
        case .invalidName: EINVAL
        case .busy: EBUSY
        case .notPermitted: EPERM
        case .noLock: ENOLCK
        case .timedOut: ETIMEDOUT
        case .noDevice: ENODEV
        case .badHandle: EBADF
        case .outOfMemory: ENOMEM
        case .io: EIO
        case .unsupported: EOPNOTSUPP
        case .tooManyHandles: EMFILE
        case .tooManyLocks: ENOLCK
        case .interrupted: EINTR
        }
    }
}
