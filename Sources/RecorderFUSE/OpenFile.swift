import RecorderCore

/// What an open file of the tree is. Its box is what the kernel's file
/// handle (`fuse_file_info.fh`) points to, from OPEN to RELEASE; it is
/// decoded here and nowhere else.
enum OpenFile: Sendable {
    /// `acquire`, `acquire_force`, `acquire_wait`: the owner of locks.
    case lock(LockHandle)
    /// A value file (`owner`, `lockcount`, …).
    case value(ValueHandle)
    /// `MOUNT/events`.
    case events(EventsReader)

    private final class Box: Sendable {
        let file: OpenFile
        init(_ file: OpenFile) { self.file = file }
    }

    /// A file handle for the kernel; `unbox` lets go of it.
    static func box(_ file: OpenFile) -> UInt64 {
        UInt64(UInt(bitPattern: Unmanaged.passRetained(Box(file)).toOpaque()))
    }

    /// The open file of a handle, while it is open (0: none, the control
    /// files that take no handle).
    static func from(_ handle: UInt64) -> OpenFile? {
        guard let pointer = UnsafeRawPointer(bitPattern: UInt(handle)) else { return nil }
        // Called at the start of a handler, before its request is answered:
        // until then the kernel holds the file, so its RELEASE (which lets go
        // of the box) cannot come. No retain of the box for the read.
        return Unmanaged<Box>.fromOpaque(pointer)._withUnsafeGuaranteedRef { $0.file }
    }

    /// The open file of a handle at its RELEASE; the handle is gone after.
    static func unbox(_ handle: UInt64) -> OpenFile? {
        guard let pointer = UnsafeRawPointer(bitPattern: UInt(handle)) else { return nil }
        return Unmanaged<Box>.fromOpaque(pointer).takeRetainedValue().file
    }

    /// The last descriptor is gone: locks drop, the user's usage counts it out.
    func closed() {
        switch self {
        case .lock(let handle): handle.closed()
        case .value(let value): value.closed()
        case .events(let reader): reader.closed()
        }
    }
}
