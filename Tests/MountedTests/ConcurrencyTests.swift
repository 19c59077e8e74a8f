import Testing

extension Mounted {
    @Suite("Concurrency")
    struct ConcurrencyTests {
        /// Worker processes take, nest, refuse and drop locks at random.
        /// Between rounds they stop at a barrier and report what they hold;
        /// the checker then reads owner and lockcount and compares. Every
        /// worker also checks, as it goes, what a holder must see. One
        /// handle, one holder: a worker holds through one handle at most,
        /// every write through another handle is refused while it holds, and
        /// at most one worker holds at a time.
        /// Prints one line per violation ("VIOLATION ...") and a summary line.
        static let script = pythonScript("concurrent_lockers")

        @Test("12 processes locking at random keep owner and lockcount consistent")
        func randomLocking() throws {
            try withRecorder { recorder in
                let workers = 12, rounds = 12
                let finished = try run(["/usr/bin/python3", "-c", Self.script, recorder.directory,
                                        "\(workers)", "\(rounds)", "0.2"], within: .seconds(90))
                #expect(finished.status == 0, "\(finished)")
                let lines = finished.stdout.split(separator: "\n")
                let violations = lines.filter { $0.hasPrefix("VIOLATION ") }
                #expect(violations.isEmpty, "\(violations.count) violations:\n\(violations.joined(separator: "\n"))")
                let summary = lines.last { $0.hasPrefix("SUMMARY ") } ?? ""
                var numbers: [String: Int] = [:]
                for field in summary.split(separator: " ").dropFirst() {
                    let pair = field.split(separator: "=")
                    if pair.count == 2 { numbers[String(pair[0])] = Int(pair[1]) }
                }
                #expect(numbers["checkpoints"] == rounds, "\(finished)")
                // The run was a real contest: locks were held at the checkpoints
                // between drains, and the recorder changed hands many times.
                #expect((numbers["held"] ?? 0) >= rounds / 4, "\(finished)")
                #expect((numbers["generation"] ?? 0) >= Int(try recorder.generationBase()) + 20, "\(finished)")
                #expect((numbers["ops"] ?? 0) >= 500, "\(finished)")
                try expectFree(recorder)
            }
        }
    }
}
