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

        @Test("scripts/bench --smoke exits 0 with a row of numbers for each of the 8 measures")
        func smoke() throws {
            let finished = try run(["/bin/bash", Self.repository + "/scripts/bench", "--smoke", "--binary", MountEnvironment.binary],
                                   within: .seconds(110))
            try #require(finished.status == 0, "\(finished)")
            let rows = finished.stdout.split(separator: "\n").compactMap(Row.init)
            for measure in 1...8 {
                let mine = rows.filter { $0.measure == measure }
                #expect(!mine.isEmpty, "no row for measure \(measure) in:\n\(finished.stdout)")
                for row in mine {
                    // recorderfs (for 8: the kernel) median and p99
                    #expect(row.isNumber(0) && row.isNumber(1), "row \(row.id): \(row.values) in:\n\(finished.stdout)")
                    if measure <= 7 {
                        // the floor's median and p99; the ratio may be "-" where the floor's median is 0
                        #expect(row.isNumber(2) && row.isNumber(3), "row \(row.id): \(row.values) in:\n\(finished.stdout)")
                    }
                }
                if measure <= 7 {
                    #expect(mine.contains { $0.isNumber(4) }, "no ratio for measure \(measure) in:\n\(finished.stdout)")
                }
            }
        }
    }
}
