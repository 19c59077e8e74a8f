#if canImport(Glibc)
import Glibc
#endif

/// What `status` tells of a mount that the tree does not show: the claim
/// mode (`mount --exclusive` or not) and the drive deadline (`--timeout`).
///
/// The daemon writes them, once mounted, to a small file next to the
/// mountpoint's lock in /run/recorderfs (`mount-HASH`, HASH as for the lock),
/// and removes it at exit:
///
///     pid=4242
///     device=64
///     claim=advisory
///     timeout=5.0
///
/// `status` believes the file only while it names the live mount: the
/// daemon's pid is alive and `device` is the mount's device number, so a file
/// left by a killed daemon is not read as the next mount's. Where the file
/// cannot be written (a daemon not run as root) or read (another mount
/// namespace, where the mountpoint is another path), both are unknown: null
/// in `status --json`.
struct MountSettings: Equatable {
    enum Claim: String, Codable {
        case advisory, exclusive
    }

    var claim: Claim
    /// Seconds.
    var timeout: Double

    static func path(mountPoint: String) -> String {
        "\(MountPointLock.directory)/mount-\(MountPointLock.hash(mountPoint))"
    }

    /// Writes the file for the mount on `mountPoint` (normalised) whose
    /// device number is `device`; false when it cannot.
    func publish(mountPoint: String, device: UInt64) -> Bool {
        let path = Self.path(mountPoint: mountPoint)
        let temporary = "\(path).\(getpid())"
        unlink(temporary)
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o644)
        guard descriptor >= 0 else { return false }
        let text = Array("pid=\(getpid())\ndevice=\(device)\nclaim=\(claim.rawValue)\ntimeout=\(timeout)\n".utf8)
        let written = text.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        close(descriptor)
        guard written == text.count, rename(temporary, path) == 0 else {
            unlink(temporary)
            return false
        }
        return true
    }

    /// Removes the file, if this process wrote it.
    static func withdraw(mountPoint: String) {
        let path = path(mountPoint: mountPoint)
        if fields(path)["pid"] == "\(getpid())" { unlink(path) }
    }

    /// The settings of the live mount on `mountPoint` (normalised), whose
    /// device number is `device`; nil when they are not known.
    static func read(mountPoint: String, device: UInt64) -> MountSettings? {
        let fields = fields(path(mountPoint: mountPoint))
        guard let pid = fields["pid"].flatMap({ pid_t($0) }), pid > 0, kill(pid, 0) == 0 || errno == EPERM,
              fields["device"] == "\(device)",
              let claim = fields["claim"].flatMap(Claim.init(rawValue:)),
              let timeout = fields["timeout"].flatMap({ Double($0) }) else { return nil }
        return MountSettings(claim: claim, timeout: timeout)
    }

    private static func fields(_ path: String) -> [String: String] {
        var fields: [String: String] = [:]
        for line in (readValue(path) ?? "").split(separator: "\n") {
            guard let equals = line.firstIndex(of: "=") else { continue }
            fields[String(line[..<equals])] = String(line[line.index(after: equals)...])
        }
        return fields
    }
}
