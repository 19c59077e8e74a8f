#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import CLinux
import Logging
import RecorderCore
import RecorderFUSE

struct Mount: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mount",
        abstract: "Mount the recorder tree (in the foreground unless --daemon).")

    @Argument(help: ArgumentHelp("The mountpoint (default: /recorders; or --mountpoint).", valueName: "mountpoint"))
    var path: String?

    @Option(name: .customLong("mountpoint"), help: ArgumentHelp(
        "The mountpoint, an existing directory (default: /recorders).", valueName: "mountpoint"))
    var mountPointOption: String?

    /// The mountpoint as given: MOUNTPOINT or --mountpoint, else /recorders.
    var givenMountPoint: String { mountPointOption ?? path ?? "/recorders" }

    @Option(name: .customLong("device"), help: ArgumentHelp(
        "A recorder named NAME on the block device PATH, with its SCSI generic node SGPATH (repeatable).",
        valueName: "NAME=PATH[,sg=SGPATH]"))
    var devices: [DeviceSpec] = []

    @Option(name: .customLong("virtual"), help: ArgumentHelp(
        "A stand-in recorder NAME on a loop device with a small image (repeatable).", valueName: "NAME"))
    var virtuals: [String] = []

    @Option(name: .customLong("match"), help: ArgumentHelp(
        "Also take block devices whose kernel name matches GLOB, e.g. 'loop2[0-9][0-9]' (repeatable).", valueName: "GLOB"))
    var patterns: [String] = []

    @Flag(help: "Do not look for optical drives; use only --device, --virtual and --match recorders.")
    var noDiscover = false

    @Flag(help: "Also keep an O_EXCL descriptor while locked: the kernel refuses mount(8) and other exclusive openers, the holder's burner too.")
    var exclusive = false

    @Flag(help: "Do not pause the drive's media polling while locked, nor have udev look at the medium again after a release.")
    var noQuiet = false

    @Flag(help: "Hold off sleep and shutdown while a recorder is locked (a logind inhibitor).")
    var inhibitSleep = false

    @Option(help: ArgumentHelp("The root of sysfs, where media polling is paused (for tests and chroots).", valueName: "DIRECTORY"))
    var sysfs = "/sys"

    @Option(help: ArgumentHelp("The deadline of a call into the drive, 0.001 to 3600.", valueName: "SECONDS"))
    var timeout: Double = 5

    @Flag(help: "Let users other than the one mounting use the tree (containers, other users).")
    var allowOther = false

    @Flag(help: "Return once the tree is mounted, and keep serving it in the background.")
    var daemon = false

    @Flag(help: "Log every operation, and libfuse's requests.")
    var debug = false

    @Option(help: ArgumentHelp("The least severe level logged: trace, debug, info (every lock and unlock), notice (the default), warning, error or critical.", valueName: "LEVEL"))
    var logLevel: LogLevelArgument?

    func validate() throws {
        if mountPointOption != nil && path != nil {
            throw ValidationError("Give the mountpoint once: as MOUNTPOINT or as '--mountpoint'.")
        }
        var names = Set<String>()
        for name in devices.map(\.name) + virtuals {
            guard !DeviceSpec.reservedNames.contains(name) else {
                throw ValidationError("'\(name)' is reserved for the tree's own '\(name)'; name the recorder otherwise.")
            }
            guard DeviceSpec.isValidName(name) else {
                throw ValidationError("'\(name)' is not a valid recorder name (letters, digits, '.', '-', '_').")
            }
            guard names.insert(name).inserted else {
                throw ValidationError("The recorder name '\(name)' is given twice.")
            }
        }
        // A deadline under a millisecond is no deadline a drive can meet.
        guard timeout >= Self.shortestTimeout, timeout <= Self.longestTimeout else {
            throw ValidationError("--timeout must be between 0.001 and 3600 seconds.")
        }
    }

    static let shortestTimeout = 0.001
    static let longestTimeout = 3600.0

    /// The deadline, exact to the nanosecond.
    var deadline: Duration {
        .nanoseconds(Int64((timeout * 1_000_000_000).rounded()))
    }

    func run() throws {
        if daemon && ReadinessPipe.inherited == nil {
            try Daemon.start()
        }
        try serve()
    }

    private func serve() throws {
        // libfuse allocates each request (144 bytes) with calloc, which
        // glibc never serves from its per-thread cache; past the default
        // 128 bytes of its fast bins, each went through the unsorted bin
        // (sorting, coalescing), some 400 instructions a cycle, more or
        // fewer with the heap's state. Fast bins up to their largest, 160
        // bytes, serve it at once (docs/performance.md).
        rfs_fast_bins_up_to(160)
        LoggingSystem.bootstrap { DaemonLogHandler(label: $0) }
        let logger = {
            var logger = Logger(label: "recorderfs")
            logger.logLevel = logLevel?.level ?? (debug ? .debug : .notice)
            return logger
        }()

        let mountPoint = normalizedMountPoint(givenMountPoint)
        // A node is opened again at each claim: relative to where it was given.
        let devices = self.devices.map { DeviceSpec(name: $0.name, path: absolutePath($0.path), sg: $0.sg.map(absolutePath)) }
        if ReadinessPipe.inherited != nil { chdir("/") }

        // One check-and-mount at a time on a mountpoint: of several mounts
        // started at once, one mounts and the others find it mounted.
        let lock = MountPointLock(mountPoint: mountPoint)
        defer { lock.release() }
        try prepareMountPoint(mountPoint, given: givenMountPoint, logger: logger)
        var seen: [UInt64: DeviceSpec] = [:]
        for (device, given) in zip(devices, self.devices) {
            guard let status = FileStatus(path: device.path) else {
                throw Failure("cannot use \(given.path) for \(device.name): \(errorText(errno)).")
            }
            guard status.isBlockDevice else {
                throw Failure("cannot use \(given.path) for \(device.name): it is not a block device.")
            }
            if let first = seen[status.deviceNumber] {
                throw Failure("--device \(first.name)=\(first.path) and --device \(given.name)=\(given.path) are the same device.")
            }
            seen[status.deviceNumber] = given
        }
        // A SCSI generic node is one (character major 21), or a block device
        // standing in for one (the tests' loop devices), and no recorder's
        // node but its own.
        var genericSeen: [UInt64: String] = [:]
        for (device, given) in zip(devices, self.devices) {
            guard let sg = device.sg else { continue }
            func refuse(_ why: String) -> Failure {
                Failure("cannot use \(given.sg!) as the SCSI generic node of \(device.name): \(why).")
            }
            guard let generic = FileStatus(path: sg) else { throw refuse(errorText(errno)) }
            if generic.isCharacterDevice {
                guard rfs_major(dev_t(generic.deviceNumber)) == RFS_SCSI_GENERIC_MAJOR else {
                    throw refuse("it is not a SCSI generic node (major \(RFS_SCSI_GENERIC_MAJOR))")
                }
            } else if generic.isBlockDevice {
                if let other = seen[generic.deviceNumber] {
                    throw refuse(other.name == given.name ? "it is the block device itself" : "it is the device of \(other.name)")
                }
            } else {
                throw refuse("it is not a device node")
            }
            let key = generic.deviceNumber | (generic.isCharacterDevice ? 1 << 63 : 0)
            if let other = genericSeen[key] { throw refuse("it is the SCSI generic node of \(other) too") }
            genericSeen[key] = device.name
        }
        let sysfs = absolutePath(self.sysfs)
        if sysfs != "/sys" {
            // Written to as root: nobody else may be able to swap what is in it.
            for directory in [sysfs, sysfs + "/dev", sysfs + "/dev/block"] {
                guard let status = FileStatus(path: directory) else { continue }
                guard status.isDirectory, status.owner == geteuid(), status.mode & 0o022 == 0 else {
                    throw Failure("--sysfs \(self.sysfs): \(directory) must be a directory of this user that no one else can write to.")
                }
            }
        }
        if !noQuiet {
            for attribute in MediaPolling.restoreLeftovers(sysfs: sysfs) {
                logger.notice("media polling restored after a daemon that is gone", metadata: ["attribute": "\(attribute)"])
            }
        }

        var discs: [VirtualDisc] = []
        defer { discs.forEach { $0.detach() } }
        @Sendable func drive(_ name: String, _ node: String, sg: String? = nil) -> BlockDrive {
            var logger = logger
            logger[metadataKey: "recorder"] = "\(name)"
            return BlockDrive(node: node, settings: DriveSettings(genericNode: sg, sysfs: sysfs, quiet: !noQuiet), logger: logger)
        }
        var drives: [(String, BlockDrive)] = devices.map { ($0.name, drive($0.name, $0.path, sg: $0.sg)) }
        for pattern in patterns where pattern.isEmpty {
            throw Failure("--match needs a pattern.")
        }
        for name in virtuals {
            do {
                let disc = try VirtualDisc()
                discs.append(disc)
                drives.append((name, drive(name, disc.node)))
            } catch {
                throw Failure("cannot create the virtual recorder \(name): \(error).")
            }
        }

        let options = RecorderOptions(exclusive: exclusive, timeout: deadline, hooks: .requestLoop)
        let genericNodes = Dictionary(uniqueKeysWithValues: devices.map { ($0.name, $0.sg) })
        let recorders = RecorderSet()
        let limits = UsageLimits()
        var followers: [any RecorderObserver] = []
        if inhibitSleep { followers.append(SleepInhibitor(logger: logger)) }
        if ServiceNotify.socketPath != nil { followers.append(ServiceStatus(recorders: recorders, mountPoint: mountPoint)) }
        let events = EventHub(next: followers.isEmpty ? nil : RecorderObservers(followers))
        let discovery = Discovery(set: recorders, selection: RecorderSelection(discover: !noDiscover, patterns: patterns),
                                  logger: logger) { name, node in
            Recorder(name: name, drive: drive(name, node, sg: genericNodes[name] ?? nil), options: options, limits: limits,
                     generationBase: Recorder.clockGeneration(), observer: events, logger: logger)
        }
        // A virtual recorder's stable name: its name, as its image is the daemon's own.
        let virtualNames = Set(virtuals)
        discovery.start(pinned: drives.map {
            Discovery.Pinned(name: $0.0, node: $0.1.node, stableID: virtualNames.contains($0.0) ? "recorderfs-virtual-\($0.0)" : nil)
        })
        // Also when the session never starts; after it, done below while
        // the session still exists (the hotplug thread may be telling it
        // of a change until then).
        var stopped = false
        func stop() {
            guard !stopped else { return }
            stopped = true
            discovery.stop()
            recorders.removeAll()
        }
        defer { stop() }
        let fileSystem = RecorderFileSystem(recorders: recorders, limits: limits, events: events, logger: logger)
        let session: Session
        do {
            session = try Session(fileSystem: fileSystem, mountPoint: mountPoint,
                                  options: MountOptions(allowOther: allowOther, debug: debug, driveTimeout: options.timeout))
        } catch {
            throw Failure("\(error).")
        }
        // What status cannot read in the tree: the claim mode and the deadline.
        let settings = MountSettings(claim: exclusive ? .exclusive : .advisory, timeout: timeout)
        let published = recorderfsMount(at: mountPoint).map { settings.publish(mountPoint: mountPoint, device: $0.device) } ?? false
        defer { if published { MountSettings.withdraw(mountPoint: mountPoint) } }
        lock.release()
        // A background daemon logs to syslog from now on: `mounted` too.
        let readiness = ReadinessPipe.inherited
        if readiness != nil { LogDestination.shared.switchToSyslog() }
        let names = recorders.entries.map { "\($0.recorder.name)=\($0.recorder.drive.node)" }.joined(separator: " ")
        logger.notice("mounted", metadata: ["mountpoint": "\(mountPoint)", "recorders": "\(names)"])
        readiness?.signalReady()
        ServiceNotify.announceWhenAnswering(mountPoint: mountPoint, recorders: recorders.entries.map(\.recorder.name))
        withExtendedLifetime(session) {
            session.run()
            stop()
        }
        ServiceNotify.stopping()
        logger.notice("unmounted", metadata: ["mountpoint": "\(mountPoint)"])
    }

    /// Checks the mountpoint (normalised; `given` as the user wrote it), and
    /// removes a stale mount a killed daemon left.
    private func prepareMountPoint(_ absolute: String, given path: String, logger: Logger) throws {
        if recorderfsMount(at: absolute) != nil {
            guard !isConnected(absolute) else {
                throw Failure("recorderfs is already mounted on \(absolute).")
            }
            logger.notice("removing the stale mount of a daemon that is gone", metadata: ["mountpoint": "\(absolute)"])
            if umount2(absolute, Int32(MNT_DETACH)) != 0 && runProgram(["fusermount3", "-u", "-z", absolute]) != 0 {
                throw Failure("cannot remove the stale mount on \(absolute).")
            }
        }
        guard let status = FileStatus(path: absolute) else {
            throw Failure("the mountpoint \(path) \(errno == ENOENT ? "does not exist" : "cannot be used: \(errorText(errno))").")
        }
        guard status.isDirectory else {
            throw Failure("the mountpoint \(path) is not a directory.")
        }
    }
}



/// `--device NAME=PATH`.
struct DeviceSpec: ExpressibleByArgument {
    var name: String
    var path: String
    /// The drive's SCSI generic node, claimed with PATH (`,sg=SGPATH`).
    var sg: String?

    init(name: String, path: String, sg: String? = nil) {
        self.name = name
        self.path = path
        self.sg = sg
    }

    /// NAME=PATH[,sg=SGPATH]
    init?(argument: String) {
        guard let equals = argument.firstIndex(of: "="), equals != argument.startIndex else { return nil }
        name = String(argument[..<equals])
        var rest = argument[argument.index(after: equals)...]
        if let generic = rest.lastRange(ofBytes: ",sg=") {
            sg = String(rest[generic.upperBound...])
            rest = rest[..<generic.lowerBound]
            guard sg?.isEmpty == false else { return nil }
        }
        path = String(rest)
        guard !path.isEmpty else { return nil }
    }

    static var defaultCompletionKind: CompletionKind { .file() }

    /// A recorder name is a directory name of the tree.
    /// Names the root of the tree uses itself.
    static let reservedNames: Set<String> = ["by-id", "events"]

    static func isValidName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= 64 && name != "." && name != ".." && !reservedNames.contains(name)
            && name.utf8.allSatisfy { byte in
                (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")) || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
                    || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9"))
                    || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_")
            }
    }
}
