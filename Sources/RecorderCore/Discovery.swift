#if canImport(Glibc)
import Glibc
#endif
import CLinux
import Logging

/// Which block devices are recorders: optical drives unless `--no-discover`,
/// and those whose kernel name matches a `--match` pattern.
public struct RecorderSelection: Sendable {
    public var discover: Bool
    public var patterns: [String]

    public init(discover: Bool, patterns: [String]) {
        self.discover = discover
        self.patterns = patterns
    }

    public func accepts(_ device: BlockDevice) -> Bool {
        guard device.type == "disk" else { return false }
        if patterns.contains(where: { fnmatch($0, device.name, 0) == 0 }) { return true }
        return discover && device.isOpticalDrive
    }
}

/// Finds recorders with libudev at mount and follows them while mounted:
/// a device that appears is added to the set, one that goes away is removed
/// (its handles then fail with ENODEV), and one that comes back is fresh.
public final class Discovery: @unchecked Sendable {
    /// A recorder named on the command line, followed by its kernel name.
    public struct Pinned: Sendable {
        public var name: String
        public var node: String
        /// Its link under by-id/, if it has one (a virtual recorder's).
        public var stableID: String?

        public init(name: String, node: String, stableID: String? = nil) {
            self.name = name
            self.node = node
            self.stableID = stableID
        }
    }

    private let set: RecorderSet
    private let selection: RecorderSelection
    private let makeRecorder: @Sendable (_ name: String, _ node: String) -> Recorder
    private let logger: Logger
    /// Kernel name → the recorder named on the command line.
    private var pinned: [String: Pinned] = [:]
    private var monitor: UdevMonitor?
    private var thread: pthread_t?
    private var wakeWrite: Int32 = -1
    private var wakeRead: Int32 = -1

    public init(set: RecorderSet, selection: RecorderSelection, logger: Logger,
                makeRecorder: @escaping @Sendable (_ name: String, _ node: String) -> Recorder) {
        self.set = set
        self.selection = selection
        self.logger = logger
        self.makeRecorder = makeRecorder
    }

    /// Adds the recorders named on the command line and those found now, and
    /// starts following hotplug events.
    public func start(pinned recorders: [Pinned]) {
        if let why = Udev.unavailable {
            logger.error("cannot discover drives or follow hotplug events", metadata: ["reason": "\(why)"])
        }
        // Listen before enumerating so that no device falls between the two.
        let source: UdevMonitor.Source = Udev.daemonIsRunning ? .udev : .kernel
        monitor = UdevMonitor(source: source)
        if monitor == nil { logger.warning("cannot follow hotplug events", metadata: ["source": "\(source)"]) }

        let udev = Udev()
        for recorder in recorders {
            let kernelName = udev?.blockDevice(node: recorder.node)?.name ?? Self.kernelName(ofNode: recorder.node)
            if let kernelName { pinned[kernelName] = recorder }
            set.add(makeRecorder(recorder.name, recorder.node), stableID: recorder.stableID)
        }
        // Only look at every block device when something could be taken from them.
        if selection.discover || !selection.patterns.isEmpty {
            for device in udev?.blockDevices() ?? [] where selection.accepts(device) && pinned[device.name] == nil {
                add(device)
            }
        }
        guard monitor != nil else { return }
        guard let ends = closeOnExecPipe() else { return }
        (wakeRead, wakeWrite) = ends
        let unmanaged = Unmanaged.passRetained(self)
        var thread = pthread_t()
        let created = pthread_create(&thread, nil, { argument in
            let discovery = Unmanaged<Discovery>.fromOpaque(argument!).takeRetainedValue()
            discovery.follow()
            return nil
        }, unmanaged.toOpaque())
        if created == 0 {
            self.thread = thread
            logger.debug("following hotplug events", metadata: ["source": "\(source)"])
        } else {
            unmanaged.release()
        }
    }

    /// Stops following events; returns once the thread has ended.
    public func stop() {
        guard let thread else { return }
        var byte: UInt8 = 0
        _ = write(wakeWrite, &byte, 1)
        pthread_join(thread, nil)
        self.thread = nil
        close(wakeWrite)
        close(wakeRead)
    }

    private func follow() {
        guard let monitor else { return }
        // Named for `top -H`, `ps -L` and the tests.
        rfs_name_this_thread("rfs-hotplug")
        updateFilter()
        var descriptors = [pollfd(fd: monitor.descriptor, events: Int16(POLLIN), revents: 0),
                           pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0)]
        while true {
            let ready = poll(&descriptors, 2, -1)
            if ready < 0 && errno == EINTR { continue }
            if ready < 0 || descriptors[1].revents != 0 { return }
            while let event = monitor.receive(ignoring: isNothingNew) {
                if let (action, device) = event { handle(action, device) }
            }
            updateFilter()
            // The events of a burst gather in the socket for a moment and are
            // read together: each release of a recorder makes a change uevent
            // (the re-probe), and a thread woken for every one of them took
            // a CPU from the daemon's workers and its clients. A first event
            // is still read at once; a stop is seen at once.
            if stopRequested(within: Self.gathering) { return }
        }
    }

    /// How long the events after a first one gather before they are read:
    /// at the most rate of re-probes (some 3,700 a second), 37 of them.
    static let gathering: Int32 = 10

    /// Waits up to `milliseconds` for a stop; whether one came (a signal
    /// only ends the wait early).
    private func stopRequested(within milliseconds: Int32) -> Bool {
        var wake = pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0)
        return poll(&wake, 1, milliseconds) > 0
    }

    /// The kernel names whose change uevents the kernel drops now.
    private var filtered: [String]?

    /// Has the kernel drop what `isNothingNew` would: the change uevents of
    /// the recorders in the set now (their re-probes, one per release),
    /// which then never wake this thread nor cost it a read.
    private func updateFilter() {
        guard let monitor, monitor.source == .kernel else { return }
        let candidates = Set(pinned.keys).union(set.entries.map(\.recorder.name))
        let names = candidates.filter { isNothingNew(.change, $0) }.sorted()
        guard names != filtered else { return }
        filtered = names
        monitor.dropChanges(ofDevpaths: names.compactMap(Self.devpath(ofKernelName:)))
    }

    /// `/devices/…/block/NAME`, as the kernel's uevents name the device.
    static func devpath(ofKernelName name: String) -> String? {
        guard !name.contains(bytes: "/"), let resolved = realpath("/sys/class/block/\(name)", nil) else { return nil }
        defer { free(resolved) }
        let path = String(cString: resolved)
        return path.hasPrefix("/sys/devices/") ? String(path.dropFirst(4)) : nil
    }

    /// A change of a device that is a recorder already changes nothing
    /// (`handle` would do nothing with it).
    private func isNothingNew(_ action: UdevMonitor.Action, _ name: String) -> Bool {
        action == .change && set.slot(named: pinned[name]?.name ?? name) != nil
    }

    func handle(_ action: UdevMonitor.Action, _ device: BlockDevice) {
        switch action {
        case .add, .change:
            if let recorder = pinned[device.name] {
                if set.slot(named: recorder.name) == nil {
                    set.add(makeRecorder(recorder.name, recorder.node), stableID: recorder.stableID)
                    logger.notice("recorder back", metadata: ["name": "\(recorder.name)", "device": "\(recorder.node)"])
                }
            } else if selection.accepts(device), set.slot(named: device.name) == nil {
                add(device)
            }
        case .remove:
            let name = pinned[device.name]?.name ?? device.name
            if set.remove(named: name) != nil {
                logger.notice("recorder gone", metadata: ["name": "\(name)"])
            }
        }
    }

    private func add(_ device: BlockDevice) {
        let stableID = DriveDescription(device).stableID
        if set.add(makeRecorder(device.name, device.node), stableID: stableID) != nil {
            logger.notice("recorder found", metadata: ["name": "\(device.name)", "device": "\(device.node)"])
        }
    }

    /// The kernel name of a block device node, through sysfs.
    static func kernelName(ofNode node: String) -> String? {
        guard let status = FileStatus(path: node) else { return nil }
        let (major, minor) = (rfs_major(dev_t(status.deviceNumber)), rfs_minor(dev_t(status.deviceNumber)))
        var buffer = [CChar](repeating: 0, count: 4096)
        let count = readlink("/sys/dev/block/\(major):\(minor)", &buffer, buffer.count - 1)
        guard count > 0 else { return nil }
        return String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
            .split(separator: "/").last.map(String.init)
    }
}
