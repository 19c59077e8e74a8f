#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show each recorder of a mounted tree: device, owner, locks, generation, drive and holders.")

    @OptionGroup var target: MountPointArgument

    @Flag(help: "Print JSON.")
    var json = false

    struct Row {
        var name: String
        var device: String
        var owner: String?
        var lockCount: Int
        var generation: Int
        var vendor: String
        var model: String
        var capabilities: [String]
        /// Lines of `holders`: NAME pid=PID uid=UID count=N since=TIME.
        var holders: [String]
    }

    @Flag(help: "Print the table again after each event of MOUNTPOINT/events, until interrupted.")
    var watch = false

    func run() throws {
        try reporting {
            let mountPoint = normalizedMountPoint(target.mountPoint)
            guard recorderfsMount(at: mountPoint) != nil else {
                throw Failure("\(target.mountPoint) is not a recorderfs mount.")
            }
            guard watch else {
                print(render(mountPoint, try rows(mountPoint)), terminator: "")
                return
            }
            try watchEvents(mountPoint)
        }
    }

    private func render(_ mountPoint: String, _ rows: [Row]) -> String {
        json ? Self.json(mountPoint, rows) : Self.table(rows)
    }

    /// --watch: the table, then, after each read of `events` (which blocks
    /// until there is one), the events read and the table again. Opened
    /// before the first table, so nothing that happens after it is missed.
    private func watchEvents(_ mountPoint: String) throws {
        let path = "\(mountPoint)/events"
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
        emit(render(mountPoint, try rows(mountPoint, skippingVanished: true)))
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(events, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else {
                throw Failure(count == 0 ? "\(path) ended: the tree was unmounted."
                                         : "cannot read \(path): \(errorText(errno)).")
            }
            let lines = String(decoding: buffer[0..<count], as: UTF8.self)
            let table = render(mountPoint, try rows(mountPoint, skippingVanished: true))
            emit(json ? table : "\n" + lines + table)
        }
    }

    private func rows(_ mountPoint: String, skippingVanished: Bool = false) throws -> [Row] {
        try recorderNames(in: mountPoint).compactMap { name -> Row? in
            let directory = "\(mountPoint)/\(name)"
            guard let owner = readValue("\(directory)/owner"), let count = readValue("\(directory)/lockcount") else {
                if skippingVanished && (errno == ENOENT || errno == ENODEV) { return nil }
                throw Failure("cannot read \(directory): \(errorText(errno)).")
            }
            func field(_ file: String) -> String { value(readValue("\(directory)/\(file)") ?? "") }
            return Row(name: name, device: field("device"), owner: owner.isEmpty ? nil : value(owner),
                       lockCount: Int(value(count)) ?? 0, generation: Int(field("generation")) ?? 0,
                       vendor: field("vendor"), model: field("model"),
                       capabilities: field("capabilities").split(separator: " ").map(String.init),
                       holders: field("holders").split(separator: "\n").map(String.init))
        }
    }

    private func value(_ text: String) -> String {
        text.hasSuffix("\n") ? String(text.dropLast()) : text
    }

    /// One row per recorder, then its holders indented below it.
    static func table(_ rows: [Row]) -> String {
        let header = ["RECORDER", "DEVICE", "OWNER", "LOCKS", "GEN", "DRIVE", "CAPABILITIES"]
        let cells = [header] + rows.map { row in
            let drive = [row.vendor, row.model].filter { !$0.isEmpty }.joined(separator: " ")
            return [row.name, row.device, row.owner ?? "-", "\(row.lockCount)", "\(row.generation)",
                    drive.isEmpty ? "-" : drive, row.capabilities.isEmpty ? "-" : row.capabilities.joined(separator: " ")]
        }
        let widths = header.indices.map { column in cells.map { $0[column].count }.max() ?? 0 }
        func line(_ row: [String]) -> String {
            row.enumerated().map { column, cell in
                column == row.count - 1 ? cell : cell.padding(toLength: widths[column] + 2)
            }.joined() + "\n"
        }
        var text = line(header)
        for (row, cells) in zip(rows, cells.dropFirst()) {
            text += line(cells)
            for holder in row.holders { text += "  holder \(holder)\n" }
        }
        return text
    }

    static func json(_ mountPoint: String, _ rows: [Row]) -> String {
        let recorders = rows.map { row in
            let holders = row.holders.map(holderJSON).joined(separator: ",")
            let capabilities = row.capabilities.map(quoted).joined(separator: ",")
            return "{\"name\":\(quoted(row.name)),\"device\":\(quoted(row.device)),"
                + "\"owner\":\(row.owner.map(quoted) ?? "null"),\"lockcount\":\(row.lockCount),"
                + "\"generation\":\(row.generation),\"vendor\":\(quoted(row.vendor)),\"model\":\(quoted(row.model)),"
                + "\"capabilities\":[\(capabilities)],\"holders\":[\(holders)]}"
        }
        return "{\"mountpoint\":\(quoted(mountPoint)),\"recorders\":[\(recorders.joined(separator: ","))]}\n"
    }

    /// `NAME pid=1 uid=0 count=2 since=T` as a JSON object. The name may
    /// hold spaces, even several in a row; the four fields after it do not.
    static func holderJSON(_ line: String) -> String {
        var name = Substring(line)
        var fields: [(String, String)] = []
        while fields.count < 4, let space = name.lastIndex(of: " ") {
            let field = name[name.index(after: space)...]
            guard let equals = field.firstIndex(of: "=") else { break }
            fields.insert((String(field[..<equals]), String(field[field.index(after: equals)...])), at: 0)
            name = name[..<space]
        }
        let values = fields.map { key, value in
            "\(quoted(key)):" + (key == "since" ? quoted(value) : (Int(value).map(String.init) ?? quoted(value)))
        }
        return "{\"name\":\(quoted(String(name)))" + values.map { "," + $0 }.joined() + "}"
    }

    static func quoted(_ text: String) -> String {
        var result = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": result += "\\\""
            case "\\": result += "\\\\"
            case "\n": result += "\\n"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                result += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result + "\""
    }
}

extension String {
    func padding(toLength length: Int) -> String {
        count >= length ? self : self + String(repeating: " ", count: length - count)
    }
}
