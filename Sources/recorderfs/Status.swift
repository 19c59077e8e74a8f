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

    func run() throws {
        try reporting {
            let mountPoint = normalizedMountPoint(target.mountPoint)
            guard recorderfsMount(at: mountPoint) != nil else {
                throw Failure("\(target.mountPoint) is not a recorderfs mount.")
            }
            let rows = try recorderNames(in: mountPoint).map { name -> Row in
                let directory = "\(mountPoint)/\(name)"
                guard let owner = readValue("\(directory)/owner"), let count = readValue("\(directory)/lockcount") else {
                    throw Failure("cannot read \(directory): \(errorText(errno)).")
                }
                func field(_ file: String) -> String { value(readValue("\(directory)/\(file)") ?? "") }
                return Row(name: name, device: field("device"), owner: owner.isEmpty ? nil : value(owner),
                           lockCount: Int(value(count)) ?? 0, generation: Int(field("generation")) ?? 0,
                           vendor: field("vendor"), model: field("model"),
                           capabilities: field("capabilities").split(separator: " ").map(String.init),
                           holders: field("holders").split(separator: "\n").map(String.init))
            }
            print(json ? Self.json(mountPoint, rows) : Self.table(rows), terminator: "")
        }
    }

    private func value(_ text: String) -> String {
        text.hasSuffix("\n") ? String(text.dropLast()) : text
    }

    private func recorderNames(in mountPoint: String) throws -> [String] {
        guard let directory = opendir(mountPoint) else {
            throw Failure("cannot list \(mountPoint): \(errorText(errno)).")
        }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
            if name != "." && name != ".." && name != "by-id" && entry.pointee.d_type == DT_DIR { names.append(name) }
        }
        return names.sorted()
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
