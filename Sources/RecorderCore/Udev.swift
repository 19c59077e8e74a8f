#if canImport(Glibc)
import Glibc
#endif
import CUdev

/// A libudev context. libudev objects are not thread-safe: each thread that
/// asks udev something makes its own context.
public final class Udev {
    let raw: OpaquePointer

    public init?() {
        guard let raw = udev_new() else { return nil }
        self.raw = raw
    }

    deinit { udev_unref(raw) }

    /// Why libudev cannot be loaded (the binary loads it when first asked,
    /// CUdev), or nil when it is.
    public static var unavailable: String? {
        rfs_udev_load().map { String(cString: $0) }
    }

    /// Whether systemd-udevd runs, so that its database and events exist:
    /// its control socket accepts a connection (udevd leaves the socket
    /// file behind when it exits).
    public static var daemonIsRunning: Bool {
        let path = "/run/udev/control"
        let descriptor = socket(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { return access(path, F_OK) == 0 }
        defer { close(descriptor) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in path.utf8.prefix(capacity - 1).enumerated() { raw[index] = byte }
        }
        return withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) == 0
            }
        }
    }

    /// Every block device, from udev's database or, without one, from sysfs.
    public func blockDevices() -> [BlockDevice] {
        guard let enumerate = udev_enumerate_new(raw) else { return [] }
        defer { udev_enumerate_unref(enumerate) }
        udev_enumerate_add_match_subsystem(enumerate, "block")
        udev_enumerate_scan_devices(enumerate)
        var devices: [BlockDevice] = []
        var entry = udev_enumerate_get_list_entry(enumerate)
        while let current = entry {
            if let path = udev_list_entry_get_name(current),
               let device = udev_device_new_from_syspath(raw, path) {
                if let described = Self.describe(device) { devices.append(described) }
                udev_device_unref(device)
            }
            entry = udev_list_entry_get_next(current)
        }
        return devices
    }

    /// The block device behind a device node.
    public func blockDevice(node: String) -> BlockDevice? {
        guard let status = FileStatus(path: node), status.isBlockDevice,
              let device = udev_device_new_from_devnum(raw, CChar(UInt8(ascii: "b")), dev_t(status.deviceNumber)) else { return nil }
        defer { udev_device_unref(device) }
        return Self.describe(device)
    }

    static func describe(_ device: OpaquePointer) -> BlockDevice? {
        guard let name = string(udev_device_get_sysname(device)) else { return nil }
        var properties: [String: String] = [:]
        var entry = udev_device_get_properties_list_entry(device)
        while let current = entry {
            if let key = string(udev_list_entry_get_name(current)) {
                properties[key] = string(udev_list_entry_get_value(current)) ?? ""
            }
            entry = udev_list_entry_get_next(current)
        }
        var result = BlockDevice(
            name: name,
            node: string(udev_device_get_devnode(device)) ?? "/dev/\(name)",
            type: string(udev_device_get_devtype(device)) ?? "disk",
            properties: properties,
            isInitialized: udev_device_get_is_initialized(device) > 0)
        if let scsi = udev_device_get_parent_with_subsystem_devtype(device, "scsi", "scsi_device") {
            result.scsiType = string(udev_device_get_sysattr_value(scsi, "type")).flatMap { Int($0) }
            result.vendor = string(udev_device_get_sysattr_value(scsi, "vendor"))
            result.model = string(udev_device_get_sysattr_value(scsi, "model"))
            result.revision = string(udev_device_get_sysattr_value(scsi, "rev"))
            if let path = string(udev_device_get_syspath(scsi)) {
                result.genericNode = firstEntry(of: "\(path)/scsi_generic").map { "/dev/\($0)" }
            }
        }
        return result
    }

    static func string(_ pointer: UnsafePointer<CChar>?) -> String? {
        pointer.map { String(cString: $0) }
    }

    static func firstEntry(of directory: String) -> String? {
        guard let stream = opendir(directory) else { return nil }
        defer { closedir(stream) }
        while let entry = readdir(stream) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
            if !name.hasPrefix(".") { return name }
        }
        return nil
    }
}

/// Block device events, from udev when systemd-udevd runs (the device is
/// then processed and its properties complete), else from the kernel.
public final class UdevMonitor {
    public enum Source: String, Sendable {
        case udev, kernel
    }

    public enum Action: Equatable, Sendable {
        case add, remove, change
    }

    private let udev: Udev
    private let raw: OpaquePointer
    public let source: Source

    public init?(source: Source) {
        guard let udev = Udev(), let raw = udev_monitor_new_from_netlink(udev.raw, source.rawValue) else { return nil }
        self.udev = udev
        self.raw = raw
        self.source = source
        udev_monitor_filter_add_match_subsystem_devtype(raw, "block", "disk")
        guard udev_monitor_enable_receiving(raw) >= 0 else {
            udev_monitor_unref(raw)
            return nil
        }
    }

    deinit { udev_monitor_unref(raw) }

    /// A descriptor that becomes readable when an event is waiting.
    public var descriptor: Int32 { udev_monitor_get_fd(raw) }

    private var peekBuffer = [UInt8](repeating: 0, count: 8192)

    /// Drops the change uevents of the devices at these devpaths
    /// (`/devices/…/block/sr0`) in the kernel, before they are queued
    /// (`ChangeFilter`). Only for the kernel's messages: udev's carry a header
    /// of libudev's, which filters them itself, and then this does nothing.
    public func dropChanges(ofDevpaths devpaths: [String]) {
        guard source == .kernel else { return }
        // What the kernel does not take, or a refused filter (then none at
        // all: an older one must not go on dropping what is no longer a
        // recorder's), the thread drops itself.
        _ = ChangeFilter.attach(dropping: devpaths, to: descriptor)
    }

    /// The action and kernel name of the waiting message, read with
    /// MSG_PEEK from its properties (`ACTION=…`, `DEVNAME=…`, NUL-separated
    /// in the kernel's messages and in udev's alike); nil when there is
    /// none or it has not both. Only to ignore a message: what is acted on
    /// goes through libudev, which checks the sender.
    private func peek() -> (Action, String)? {
        let count = peekBuffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, Int32(MSG_PEEK | MSG_DONTWAIT)) }
        guard count > 0 else { return nil }
        return peekBuffer.withUnsafeBufferPointer { bytes -> (Action, String)? in
            Self.actionAndName(UnsafeBufferPointer(rebasing: bytes[0..<count]))
        }
    }

    private static func hasPrefix(_ field: UnsafeBufferPointer<UInt8>, _ prefix: StaticString) -> Bool {
        guard field.count >= prefix.utf8CodeUnitCount else { return false }
        return memcmp(field.baseAddress!, prefix.utf8Start, prefix.utf8CodeUnitCount) == 0
    }

    /// ACTION and the last component of DEVNAME in a uevent message.
    static func actionAndName(_ message: UnsafeBufferPointer<UInt8>) -> (Action, String)? {
        var action: Action?
        var name: String?
        var start = 0
        while start < message.count {
            var end = start
            while end < message.count && message[end] != 0 { end += 1 }
            let field = UnsafeBufferPointer(rebasing: message[start..<end])
            if hasPrefix(field, "ACTION=") {
                switch String(decoding: field.dropFirst(7), as: UTF8.self) {
                case "add": action = .add
                case "remove": action = .remove
                default: action = .change
                }
            } else if hasPrefix(field, "DEVNAME=") {
                let value = field.dropFirst(8)
                let last = value.lastIndex(of: UInt8(ascii: "/")).map { value.index(after: $0) } ?? value.startIndex
                name = String(decoding: value[last...], as: UTF8.self)
            }
            if let action, let name { return (action, name) }
            start = end + 1
        }
        return nil
    }

    /// The next event, nil when none is waiting. An event for which
    /// `ignoring(action, kernel name)` is true is answered with .some(nil),
    /// and costs next to nothing: it is read from the socket without
    /// libudev (which would make a device of it, reading sysfs, some 40,000
    /// instructions), so the change uevent that follows each release of a
    /// recorder costs its daemon one small read.
    public func receive(ignoring: (Action, String) -> Bool = { _, _ in false }) -> (Action, BlockDevice)?? {
        if let (action, name) = peek(), ignoring(action, name) {
            _ = recv(descriptor, nil, 0, Int32(MSG_DONTWAIT))
            return .some(nil)
        }
        guard let device = udev_monitor_receive_device(raw) else { return nil }
        defer { udev_device_unref(device) }
        let action: Action
        switch Udev.string(udev_device_get_action(device)) {
        case "add": action = .add
        case "remove": action = .remove
        default: action = .change
        }
        if let name = Udev.string(udev_device_get_sysname(device)), ignoring(action, name) { return .some(nil) }
        guard let described = Udev.describe(device) else { return .some(nil) }
        return (action, described)
    }
}
