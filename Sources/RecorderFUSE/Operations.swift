#if canImport(Glibc)
import Glibc
#endif
import CFuseShim
import RequestLoop

/// The one table of low-level callbacks. Each finds the file system through
/// the request's userdata and answers through a `Request`, exactly once.
/// Operations not in the table answer ENOSYS (libfuse's default).
enum Operations {
    static let table: fuse_lowlevel_ops = {
        var ops = fuse_lowlevel_ops()
        ops.`init` = { _, connection in
            if let connection { rfs_conn_configure(connection) }
        }
        ops.lookup = { req, parent, name in
            withFileSystem(req) {
                $0.lookup(Request(req!), parent: Inode(rawValue: parent), name: String(cString: name!))
            }
        }
        ops.getattr = { req, inode, _ in
            withFileSystem(req) { $0.getattr(Request(req!), inode: Inode(rawValue: inode)) }
        }
        ops.setattr = { req, inode, attributes, toSet, _ in
            withFileSystem(req) {
                $0.setattr(Request(req!), inode: Inode(rawValue: inode), attributes: attributes!.pointee, toSet: toSet)
            }
        }
        ops.open = { req, inode, info in
            withFileSystem(req) { $0.open(Request(req!), inode: Inode(rawValue: inode), info: info!) }
        }
        ops.read = { req, inode, size, offset, info in
            withFileSystem(req) {
                $0.read(Request(req!), inode: Inode(rawValue: inode), size: size, offset: Int(offset),
                        handle: info!.pointee.fh, flags: info!.pointee.flags)
            }
        }
        ops.write = { req, inode, buffer, size, _, info in
            withFileSystem(req) {
                $0.write(Request(req!), inode: Inode(rawValue: inode),
                         data: UnsafeRawBufferPointer(start: buffer, count: size), handle: info!.pointee.fh,
                         appending: info!.pointee.flags & O_APPEND != 0)
            }
        }
        // Files are opened without FLUSH; one that comes anyway changes nothing.
        ops.flush = { req, _, _ in Request(req!).succeed() }
        ops.release = { req, inode, info in
            withFileSystem(req) { $0.release(Request(req!), inode: Inode(rawValue: inode), handle: info!.pointee.fh) }
        }
        ops.poll = { req, inode, info, pollHandle in
            withFileSystem(req) {
                $0.poll(Request(req!), inode: Inode(rawValue: inode), handle: info!.pointee.fh, pollHandle: pollHandle)
            }
        }
        ops.readdir = { req, inode, size, offset, _ in
            withFileSystem(req) {
                $0.readdir(Request(req!), inode: Inode(rawValue: inode), size: size, offset: Int(offset))
            }
        }
        ops.readlink = { req, inode in
            withFileSystem(req) { $0.readlink(Request(req!), inode: Inode(rawValue: inode)) }
        }
        // Nothing can be created, removed, renamed or linked (docs/design.md §1).
        ops.mknod = { req, _, _, _, _ in Request(req!).fail(EPERM) }
        ops.mkdir = { req, _, _, _ in Request(req!).fail(EPERM) }
        ops.unlink = { req, _, _ in Request(req!).fail(EPERM) }
        ops.rmdir = { req, _, _ in Request(req!).fail(EPERM) }
        ops.symlink = { req, _, _, _ in Request(req!).fail(EPERM) }
        ops.rename = { req, _, _, _, _, _ in Request(req!).fail(EPERM) }
        ops.link = { req, _, _, _ in Request(req!).fail(EPERM) }
        ops.create = { req, _, _, _, _ in Request(req!).fail(EPERM) }
        ops.setxattr = { req, _, _, _, _, _ in Request(req!).fail(EPERM) }
        ops.removexattr = { req, _, _ in Request(req!).fail(EPERM) }
        return ops
    }()

    /// The opcodes whose handlers above answer at once, or pass reading on
    /// before they block (through `BlockingHooks.requestLoop` and
    /// rfs_wait_for_earlier_releases): the worker that took one answers it
    /// itself. Any other request (INIT, DESTROY, INTERRUPT, …) gets a worker
    /// of its own first. Keep it in step with the handlers.
    static let readerAnswers: UInt64 = [
        FUSE_LOOKUP, FUSE_FORGET, FUSE_BATCH_FORGET, FUSE_GETATTR, FUSE_SETATTR, FUSE_READLINK, FUSE_OPEN,
        FUSE_READ, FUSE_WRITE, FUSE_FLUSH, FUSE_RELEASE, FUSE_OPENDIR, FUSE_READDIR, FUSE_READDIRPLUS,
        FUSE_RELEASEDIR, FUSE_STATFS, FUSE_ACCESS, FUSE_GETXATTR, FUSE_LISTXATTR, FUSE_POLL,
    ].reduce(0) { $0 | 1 << UInt64($1.rawValue) }

    /// The file system of a request, borrowed: it outlives the session, so
    /// a handler need not retain and release it.
    @inline(__always)
    static func withFileSystem(_ request: fuse_req_t?, _ body: (RecorderFileSystem) -> Void) {
        Unmanaged<RecorderFileSystem>.fromOpaque(fuse_req_userdata(request)!)._withUnsafeGuaranteedRef(body)
    }
}
