#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing

extension Mounted {
    /// scripts/bench runs end to end: it builds the floor and the client,
    /// mounts both file systems, runs every measure and prints the table.
    /// Nothing here is about speed: only that each measure produced numbers.
    @Suite("The benchmark")
    struct BenchmarkSmokeTests {
        /// The repository: this file is Tests/MountedTests/BenchmarkSmokeTests.swift.
        static let repository = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

        /// One row of the table: `ID  MEASURE  UNIT  RFS-MEDIAN  RFS-P99  FLOOR-MEDIAN  FLOOR-P99  RATIO`.
        struct Row {
            var id: String
            var measure: Int
            var values: [String]

            init?(_ line: Substring) {
                let fields = line.split(separator: " ")
                guard let first = fields.first, fields.count >= 8,
                      let digit = first.first?.wholeNumberValue, (1...8).contains(digit),
                      first.count == 1 || (first.count == 2 && first.last!.isLowercase) else { return nil }
                id = String(first)
                measure = digit
                values = fields.suffix(5).map(String.init)
            }

            func isNumber(_ index: Int) -> Bool { Double(values[index]) != nil }
        }

        @Test("scripts/bench --smoke exits 0 with a row of numbers for each of the 8 measures, and instruction counts")
        func smoke() throws {
            let finished = try run(["/bin/bash", Self.repository + "/scripts/bench", "--smoke", "--binary", MountEnvironment.binary],
                                   within: .seconds(110))
            try #require(finished.status == 0, "\(finished)")
            let rows = Self.table(after: nil, in: finished.stdout).compactMap(Row.init)
            for measure in 1...8 {
                let mine = rows.filter { $0.measure == measure }
                #expect(!mine.isEmpty, "no row for measure \(measure) in:\n\(finished.stdout)")
                for row in mine {
                    // recorderfs (for 8: the kernel) median and p99; row 1e, a
                    // difference of medians (1a less 8a, 8b and 8e), has no p99
                    #expect(row.isNumber(0) && (row.isNumber(1) || (row.id == "1e" && row.values[1] == "-")),
                            "row \(row.id): \(row.values) in:\n\(finished.stdout)")
                    if measure <= 7 {
                        // the floor's median and p99; the ratio may be "-" where the floor's median is 0
                        #expect(row.isNumber(2) && row.isNumber(3), "row \(row.id): \(row.values) in:\n\(finished.stdout)")
                    }
                }
                if measure <= 7 {
                    #expect(mine.contains { $0.isNumber(4) }, "no ratio for measure \(measure) in:\n\(finished.stdout)")
                }
            }
            // The instruction counts, where valgrind is installed: "1a  LABEL  18.4 k  4.05 k  4.54".
            guard finished.stdout.contains("user instructions per operation") else {
                #expect(finished.stdout.contains("no instruction counts: valgrind is not installed"), "\(finished.stdout)")
                return
            }
            let counts = Self.table(after: "user instructions per operation", in: finished.stdout)
            for id in ["1a", "2", "3", "4a"] {
                let row = counts.first { $0.split(separator: " ").first.map(String.init) == id }
                let fields = row?.split(separator: " ").suffix(5).map(String.init) ?? []
                #expect(fields.count == 5 && Double(fields[0]) != nil && fields[1] == "k" && Double(fields[2]) != nil
                        && fields[3] == "k" && Double(fields[4]) != nil,
                        "no instruction count for measure \(id) in:\n\(finished.stdout)")
            }
        }

        /// The rows of a table of the output: the lines after the first rule
        /// of dashes (after the line that starts with `title`, if given), up
        /// to the next empty line.
        static func table(after title: String?, in output: String) -> [Substring] {
            var lines = output.split(separator: "\n", omittingEmptySubsequences: false)[...]
            if let title {
                guard let start = lines.firstIndex(where: { $0.hasPrefix(title) }) else { return [] }
                lines = lines[start...]
            }
            guard let rule = lines.firstIndex(where: { $0.hasPrefix("--") }) else { return [] }
            return Array(lines[(rule + 1)...].prefix { !$0.isEmpty })
        }
    }
}
