#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing

extension Mounted {
    /// Bounded runs of scripts/torture, the model-based concurrency torture
    /// (its header describes the model), against the binary built with the
    /// tests.
    @Suite("Torture")
    struct TortureTests {
        /// scripts/torture of this checkout (this file is
        /// Tests/MountedTests/TortureTests.swift).
        static let script = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("scripts/torture").path

        /// Runs scripts/torture with `arguments` and a random seed (in the
        /// messages, to reproduce a failure) and checks that it reports zero
        /// violations. Returns the numbers of its summary ("ops: N" ...).
        static func torture(_ arguments: [String], within limit: Duration = .seconds(100)) throws -> [String: Double] {
            let seed = String(UInt32.random(in: 1...999_999))
            let command = ["/usr/bin/python3", script, "--binary", MountEnvironment.binary, "--seed", seed] + arguments
            let finished = try run(command, within: limit)
            let violations = finished.stdout.split(separator: "\n").filter { $0.hasPrefix("VIOLATION ") }
            #expect(finished.status == 0, "seed \(seed): \(finished)")
            #expect(violations.isEmpty, "seed \(seed): \(violations.count) violations:\n\(violations.joined(separator: "\n"))")
            #expect(finished.stdout.contains("\nviolations: 0\n"), "seed \(seed): \(finished)")
            var numbers: [String: Double] = [:]
            for line in finished.stdout.split(separator: "\n") {
                let parts = line.split(separator: ":", maxSplits: 1)
                if parts.count == 2, let value = Double(parts[1].split(separator: " ").first ?? "") {
                    numbers[String(parts[0])] = value
                }
            }
            print("scripts/torture \(arguments.joined(separator: " ")) --seed \(seed): ops \(Int(numbers["ops"] ?? 0)) "
                  + "in \(numbers["seconds"] ?? 0) s, \(Int(numbers["ops/s"] ?? 0)) ops/s, "
                  + "\(Int(numbers["kills"] ?? 0)) clients killed, violations \(violations.count)")
            return numbers
        }

        @Test("16 clients, 4 recorders, 50000 operations with kills: the model holds, zero violations")
        func bounded() throws {
            let numbers = try Self.torture(["--ops", "50000", "--clients", "16"])
            #expect((numbers["ops"] ?? 0) >= 50000)
            #expect((numbers["checkpoints"] ?? 0) >= 50)
            #expect((numbers["kills"] ?? 0) >= 10)
        }

        @Test("the daemon SIGKILLed 10 times under 8 clients: claims freed, clean restarts, zero violations")
        func daemonKills() throws {
            let numbers = try Self.torture(["--ops", "20000", "--clients", "8", "--recorders", "2", "--kill-daemon", "10"])
            #expect((numbers["daemon kills"] ?? 0) == 10)
        }
    }
}
