import FoundationEssentials
import RecorderCore

/// What `status --json` prints: one object, schema version 1 (README.md,
/// "status --json"). Keys are sorted; a field the tree shows empty (unknown)
/// is an empty string or list, `owner` is null when the recorder is free,
/// `by-id` null when it has no stable id, `claim` and `timeout` null when
/// they are not known (MountSettings). A later version only adds keys; a
/// change of a key's meaning raises `version`.
struct StatusReport: Encodable {
    static let version = 1

    var mountPoint: String
    var claim: MountSettings.Claim?
    /// The drive deadline in seconds.
    var timeout: Double?
    var recorders: [Recorder]

    struct Recorder: Encodable {
        var name: String
        var device: String
        var sg: String
        var vendor: String
        var model: String
        var revision: String
        var serial: String
        var capabilities: [String]
        var media: String
        var volumes: [String]
        var byID: String?
        var owner: String?
        var lockCount: Int
        var generation: UInt64
        var holders: [HandleRecord]
        /// The `state` file; nil when the tree has none (a daemon before 0.3).
        var state: ClaimState?

        enum CodingKeys: String, CodingKey {
            case name, device, sg, vendor, model, revision, serial, capabilities, media, volumes
            case byID = "by-id", owner, lockCount = "lockcount", generation, holders
            case state, claimingSince = "claiming-since", waitingFor = "waiting-for"
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(name, forKey: .name)
            try container.encode(device, forKey: .device)
            try container.encode(sg, forKey: .sg)
            try container.encode(vendor, forKey: .vendor)
            try container.encode(model, forKey: .model)
            try container.encode(revision, forKey: .revision)
            try container.encode(serial, forKey: .serial)
            try container.encode(capabilities, forKey: .capabilities)
            try container.encode(media, forKey: .media)
            try container.encode(volumes, forKey: .volumes)
            // null, not left out, when unknown.
            try container.encode(byID, forKey: .byID)
            try container.encode(owner, forKey: .owner)
            try container.encode(lockCount, forKey: .lockCount)
            try container.encode(generation, forKey: .generation)
            try container.encode(holders.map(Holder.init), forKey: .holders)
            try container.encode(state?.word, forKey: .state)
            var since: String?
            var waitingFor: String?
            if case .claiming(let start, let program) = state {
                since = HandleRecord.rfc3339(start)
                waitingFor = program
            }
            try container.encode(since, forKey: .claimingSince)
            try container.encode(waitingFor, forKey: .waitingFor)
        }
    }

    /// A line of `holders`.
    struct Holder: Encodable {
        var name: String
        /// nil (null) when the holder is outside the reader's pid namespace.
        var pid: Int32?
        var uid: UInt32
        var count: Int
        /// RFC 3339, UTC, as `holders` shows it.
        var since: String

        enum CodingKeys: String, CodingKey {
            case name, pid, uid, count, since
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(name, forKey: .name)
            try container.encode(pid, forKey: .pid)
            try container.encode(uid, forKey: .uid)
            try container.encode(count, forKey: .count)
            try container.encode(since, forKey: .since)
        }

        init(_ record: HandleRecord) {
            name = record.name.value
            pid = record.pid == 0 ? nil : record.pid
            uid = record.uid
            count = record.count
            since = HandleRecord.rfc3339(record.since)
        }
    }

    enum CodingKeys: String, CodingKey {
        case version, mountPoint = "mountpoint", claim, timeout, recorders
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(Self.version, forKey: .version)
        try container.encode(mountPoint, forKey: .mountPoint)
        try container.encode(claim, forKey: .claim)
        try container.encode(timeout, forKey: .timeout)
        try container.encode(recorders, forKey: .recorders)
    }

    /// The report as one line of JSON, keys sorted, "/" not escaped.
    func json() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Strings, integers and finite numbers only: encoding cannot fail.
        guard let data = try? encoder.encode(self) else { return "{}\n" }
        return String(decoding: data, as: UTF8.self) + "\n"
    }
}
