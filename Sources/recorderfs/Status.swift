#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import FoundationEssentials
import RecorderCore

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show each recorder of a mounted tree: device, state, owner, locks, generation, drive and holders.",
        discussion: """
            PATH is the mountpoint (as is --mountpoint; default: $RECORDERFS_MOUNTPOINT, else the only \
            recorderfs mount, else /recorders), or a recorder directory: then only that recorder is shown. \
            --json prints one object, its schema in README.md (version 1).
            """)

    @Argument(help: ArgumentHelp("The mountpoint, or a recorder directory.", valueName: "path"))
    var path: String?

    @OptionGroup var target: MountPointOption

    @Flag(help: "Print JSON (one object; with --watch, one per line).")
    var json = false

    @Flag(help: "Print the table again after each event of MOUNTPOINT/events, until interrupted.")
    var watch = false

    func validate() throws {
        _ = try target.given(path, as: "PATH")
    }

    /// What status shows: a tree, or one recorder of it.
    struct Scope {
        /// The mountpoint, normalised.
        var mountPoint: String
        /// The one recorder shown, or nil for all.
        var recorder: String?
        /// Its directory, when it is not MOUNTPOINT/RECORDER (a recorder
        /// directory bind-mounted on its own).
        var directory: String?
    }

    func run() throws {
        let scope = try self.scope()
        guard watch else {
            print(render(scope, try report(scope)), terminator: "")
            return
        }
        try watchEvents(scope)
    }

    /// The mountpoint given (or found), or the recorder directory PATH.
    private func scope() throws -> Scope {
        let given = chosenMountPoint(try target.given(path, as: "PATH"))
        let mountPoint = normalizedMountPoint(given)
        if let path, let location = recorderDirectory(at: path) {
            return Scope(mountPoint: location.mountPoint, recorder: location.name, directory: location.directory)
        }
        if recorderfsMount(at: mountPoint) != nil {
            try requireDaemon(of: mountPoint, given: given)
            return Scope(mountPoint: mountPoint)
        }
        throw Failure(path == nil ? "\(given) is not a recorderfs mount."
                                  : "\(given) is neither a recorderfs mount nor a recorder directory.")
    }

    private func render(_ scope: Scope, _ report: StatusReport) -> String {
        json ? report.json() : Self.table(report.recorders)
    }

    /// The report of the tree now.
    private func report(_ scope: Scope, skippingVanished: Bool = false) throws -> StatusReport {
        let settings = recorderfsMount(at: scope.mountPoint).flatMap {
            MountSettings.read(mountPoint: scope.mountPoint, device: $0.device)
        }
        return StatusReport(mountPoint: scope.mountPoint, claim: settings?.claim, timeout: settings?.timeout,
                            recorders: try recorders(scope, skippingVanished: skippingVanished))
    }

    /// --watch: the table, then, after each read of `events` (which blocks
    /// until there is one), the events read and the table again. Opened
    /// before the first table, so nothing that happens after it is missed.
    /// For one recorder, only its events count.
    private func watchEvents(_ scope: Scope) throws {
        let path = "\(scope.mountPoint)/events"
        let events = open(path, O_RDONLY | O_CLOEXEC)
        guard events >= 0 else { throw Failure("cannot open \(path): \(errorText(errno)).") }
        defer { close(events) }
        func emit(_ text: String) {
            var rest = Array(text.utf8)[...]
            while !rest.isEmpty {
                let count = rest.withUnsafeBytes { write(STDOUT_FILENO, $0.baseAddress, $0.count) }
                if count < 0 && errno == EINTR { continue }
                guard count > 0 else { return }
                rest = rest.dropFirst(count)
            }
        }
        // A recorder that goes away between the listing and the reads of
        // its files is left out of that table.
        emit(render(scope, try report(scope, skippingVanished: true)))
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(events, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else {
                throw Failure(count == 0 ? "\(path) ended: the tree was unmounted."
                                         : "cannot read \(path): \(errorText(errno)).")
            }
            var lines = String(decoding: buffer[0..<count], as: UTF8.self)
            if let recorder = scope.recorder {
                // `TIME RECORDER EVENT …`: the lines of this recorder.
                lines = lines.split(separator: "\n").filter { $0.split(separator: " ").dropFirst().first == Substring(recorder) }
                    .map { $0 + "\n" }.joined()
                if lines.isEmpty { continue }
            }
            let table = render(scope, try report(scope, skippingVanished: true))
            emit(json ? table : "\n" + lines + table)
        }
    }

    private func recorders(_ scope: Scope, skippingVanished: Bool) throws -> [StatusReport.Recorder] {
        let names = try scope.recorder.map { [$0] } ?? recorderNames(in: scope.mountPoint)
        let stableIDs = stableIDs(in: scope.mountPoint)
        return try names.compactMap { name -> StatusReport.Recorder? in
            let directory = scope.directory ?? "\(scope.mountPoint)/\(name)"
            guard let owner = readValue("\(directory)/owner"), let count = readValue("\(directory)/lockcount") else {
                if skippingVanished && (errno == ENOENT || errno == ENODEV) { return nil }
                throw Failure("cannot read \(directory): \(errorText(errno)).")
            }
            func text(_ file: String) -> String { readValue("\(directory)/\(file)") ?? "" }
            func field(_ file: String) -> String { value(text(file)) }
            func lines(_ file: String) -> [String] { text(file).split(separator: "\n").map(String.init) }
            return StatusReport.Recorder(
                name: name, device: field("device"), sg: field("sg"),
                vendor: field("vendor"), model: field("model"), revision: field("revision"), serial: field("serial"),
                capabilities: field("capabilities").split(separator: " ").map(String.init),
                media: field("media"), volumes: lines("volumes"), byID: stableIDs[name],
                owner: owner.isEmpty ? nil : value(owner), lockCount: Int(value(count)) ?? 0,
                generation: UInt64(field("generation")) ?? 0,
                holders: text("holders").split(separator: "\n").compactMap(HandleRecord.init(line:)),
                state: ClaimState(line: text("state")))
        }
    }

    /// The stable id under `by-id` of each recorder that has one, by name.
    private func stableIDs(in mountPoint: String) -> [String: String] {
        var ids: [String: String] = [:]
        for id in directoryEntries("\(mountPoint)/by-id") {
            guard let target = linkTarget("\(mountPoint)/by-id/\(id)"), target.hasPrefix("../") else { continue }
            let name = String(target.dropFirst(3))
            // One id per recorder; the least, should there ever be two.
            if ids[name].map({ id < $0 }) ?? true { ids[name] = id }
        }
        return ids
    }

    private func value(_ text: String) -> String {
        text.hasSuffix("\n") ? String(text.dropLast()) : text
    }

    /// One row per recorder, then its holders indented below it.
    static func table(_ recorders: [StatusReport.Recorder]) -> String {
        let header = ["RECORDER", "DEVICE", "STATE", "OWNER", "LOCKS", "GEN", "DRIVE", "CAPABILITIES"]
        let cells = [header] + recorders.map { row in
            let drive = [row.vendor, row.model].filter { !$0.isEmpty }.joined(separator: " ")
            return [row.name, row.device, row.state?.word ?? "-", row.owner ?? "-", "\(row.lockCount)", "\(row.generation)",
                    drive.isEmpty ? "-" : drive, row.capabilities.isEmpty ? "-" : row.capabilities.joined(separator: " ")]
        }
        let widths = header.indices.map { column in cells.map { $0[column].count }.max() ?? 0 }
        func line(_ row: [String]) -> String {
            row.enumerated().map { column, cell in
                column == row.count - 1 ? cell : cell.padding(toLength: widths[column] + 2)
            }.joined() + "\n"
        }
        var text = line(header)
        for (row, cells) in zip(recorders, cells.dropFirst()) {
            text += line(cells)
            if case .claiming = row.state { text += "  \(row.state!.line)\n" }
            for holder in row.holders { text += "  holder \(holder.line)\n" }
        }
        return text
    }
}

extension String {
    func padding(toLength length: Int) -> String {
        count >= length ? self : self + String(repeating: " ", count: length - count)
    }
}
