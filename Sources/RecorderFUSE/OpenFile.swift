import RecorderCore

/// What an open file of the tree is. The kernel's file handle
/// (`fuse_file_info.fh`), from OPEN to RELEASE, is the object's address
/// with the kind in its low bits (objects are aligned to 16 bytes): no box
/// to allocate at each open. It is decoded here and nowhere else.
enum OpenFile: Sendable {
    /// `acquire`, `acquire_force`, `acquire_wait`: the owner of locks.
    case lock(LockHandle)
    /// A value file (`owner`, `lockcount`, …).
    case value(ValueHandle)
    /// `MOUNT/events`.
    case events(EventsReader)

    private static let kindBits: UInt = 0b11

    /// A file handle for the kernel, holding a reference; `unbox` lets go of it.
    static func box(_ file: OpenFile) -> UInt64 {
        let (pointer, kind): (UnsafeMutableRawPointer, UInt) = switch file {
        case .lock(let handle): (Unmanaged.passRetained(handle).toOpaque(), 1)
        case .value(let handle): (Unmanaged.passRetained(handle).toOpaque(), 2)
        case .events(let reader): (Unmanaged.passRetained(reader).toOpaque(), 3)
        }
        let address = UInt(bitPattern: pointer)
        precondition(address & kindBits == 0, "an object's address has its low bits set")
        return UInt64(address | kind)
    }

    /// The file of a handle.
    ///
    /// Called at the start of a handler, before its request is answered:
    /// until then the kernel holds the file, so its RELEASE (which lets go
    /// of the handle's reference) cannot come.
    static func from(_ handle: UInt64) -> OpenFile? {
        decode(handle, taking: false)
    }

    /// The lock handle of a file handle, if it is one: what a write and a
    /// RELEASE's order ask, without making the enum (and copying it).
    static func lockHandle(_ handle: UInt64) -> LockHandle? {
        guard let (pointer, kind) = address(handle), kind == 1 else { return nil }
        return Unmanaged<LockHandle>.fromOpaque(pointer).takeUnretainedValue()
    }

    /// `body` with the lock handle of a file handle, borrowed (the kernel
    /// holds the file, as for `from`); nil for any other file.
    static func withLockHandle<R>(_ handle: UInt64, _ body: (LockHandle) -> R) -> R? {
        guard let (pointer, kind) = address(handle), kind == 1 else { return nil }
        return Unmanaged<LockHandle>.fromOpaque(pointer)._withUnsafeGuaranteedRef(body)
    }

    /// The file of a handle, taking over the handle's reference (at RELEASE).
    static func unbox(_ handle: UInt64) -> OpenFile? {
        decode(handle, taking: true)
    }

    /// The object's address and the kind (1 lock, 2 value, 3 events) of a
    /// file handle; nil for 0.
    @inline(__always)
    private static func address(_ handle: UInt64) -> (UnsafeRawPointer, UInt)? {
        let bits = UInt(handle)
        guard let pointer = UnsafeRawPointer(bitPattern: bits & ~kindBits) else { return nil }
        return (pointer, bits & kindBits)
    }

    private static func decode(_ handle: UInt64, taking: Bool) -> OpenFile? {
        guard let (pointer, kind) = address(handle) else { return nil }
        switch kind {
        case 1: return .lock(object(pointer, taking: taking))
        case 2: return .value(object(pointer, taking: taking))
        case 3: return .events(object(pointer, taking: taking))
        default: return nil
        }
    }

    private static func object<T: AnyObject>(_ pointer: UnsafeRawPointer, taking: Bool) -> T {
        let unmanaged = Unmanaged<T>.fromOpaque(pointer)
        return taking ? unmanaged.takeRetainedValue() : unmanaged.takeUnretainedValue()
    }

    func closed() {
        switch self {
        case .lock(let handle): handle.closed()
        case .value(let value): value.closed()
        case .events(let reader): reader.closed()
        }
    }
}
