#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show each recorder of a mounted tree: device, owner, lock count.")

    @OptionGroup var target: MountPointArgument

    @Flag(help: "Print JSON.")
    var json = false

    struct Row {
        var name: String
        var device: String
        var owner: String?
        var lockCount: Int
    }

    func run() throws {
        try reporting {
            guard let mountPoint = resolvedPath(target.mountPoint), recorderfsMount(at: mountPoint) != nil else {
                throw Failure("\(target.mountPoint) is not a recorderfs mount.")
            }
            let rows = try recorderNames(in: mountPoint).map { name -> Row in
                let directory = "\(mountPoint)/\(name)"
                guard let owner = readValue("\(directory)/owner"), let count = readValue("\(directory)/lockcount") else {
                    throw Failure("cannot read \(directory): \(errorText(errno)).")
                }
                return Row(name: name, device: value(readValue("\(directory)/device") ?? ""),
                           owner: owner.isEmpty ? nil : value(owner), lockCount: Int(value(count)) ?? 0)
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
            if name != "." && name != ".." && entry.pointee.d_type == DT_DIR { names.append(name) }
        }
        return names.sorted()
    }

    static func table(_ rows: [Row]) -> String {
        let header = ["RECORDER", "DEVICE", "OWNER", "LOCKS"]
        let cells = [header] + rows.map { [$0.name, $0.device, $0.owner ?? "-", "\($0.lockCount)"] }
        let widths = header.indices.map { column in cells.map { $0[column].count }.max() ?? 0 }
        return cells.map { row in
            row.enumerated().map { column, cell in
                column == row.count - 1 ? cell : cell.padding(toLength: widths[column] + 2)
            }.joined()
        }.joined(separator: "\n") + "\n"
    }

    static func json(_ mountPoint: String, _ rows: [Row]) -> String {
        let recorders = rows.map { row in
            "{\"name\":\(quoted(row.name)),\"device\":\(quoted(row.device)),"
                + "\"owner\":\(row.owner.map(quoted) ?? "null"),\"lockcount\":\(row.lockCount)}"
        }
        return "{\"mountpoint\":\(quoted(mountPoint)),\"recorders\":[\(recorders.joined(separator: ","))]}\n"
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
