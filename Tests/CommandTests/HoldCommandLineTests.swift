import ArgumentParser
import Foundation
import PropertyBased
import Testing
@testable import recorderfs

/// `hold`'s quick reading of its command line (`HoldRequest(quickParsing:)`,
/// which skips the parser to start faster) against the parser itself: what
/// the quick reading accepts, the parser reads the same way; what it leaves,
/// the parser reads (or refuses) as before.
@Suite("hold's command line")
struct HoldCommandLineTests {
    /// The parser's reading of `arguments` (after `hold`), or nil when it refuses them.
    static func parsed(_ arguments: [String]) -> HoldRequest? {
        guard let command = try? RecorderFS.parseAsRoot(["hold"] + arguments) as? Hold else { return nil }
        return command.request
    }

    @Test("the common forms are read without the parser, as the parser reads them", arguments: [
        ["sr0", "--name", "MyApp", "--", "true"],
        ["--name", "MyApp", "sr0", "--", "cdrecord", "-v", "--", "x"],
        ["/recorders/sr0", "--name", "My App", "-n", "--", "true"],
        ["sr0", "--mountpoint", "/mnt/r", "--name", "A", "-w", "2.5", "-E", "3", "--", "sh", "-c", "exit 4"],
        ["sr0", "--name", "A", "--wait", "0", "--force", "--", "true"],
        ["sr0", "--name", "A", "--timeout", "1e3", "--conflict-exit-code", "0", "--", "true"],
        ["sr0", "--nb", "--name", "A", "--", "true"],
        ["sr0", "--nonblock", "--name", "A", "--", "--"],
    ])
    func commonForms(_ arguments: [String]) throws {
        let quick = try #require(HoldRequest(quickParsing: arguments))
        #expect(quick == Self.parsed(arguments))
    }

    @Test("everything else is left to the parser", arguments: [
        ["sr0", "--name", "A"],                              // no command
        ["sr0", "--name", "A", "--"],                        // an empty command
        ["sr0", "--name=A", "--", "true"],                   // --option=value
        ["sr0", "--name", "A", "--name", "B", "--", "true"], // repeated
        ["sr0", "--name", "-A", "--", "true"],               // a value that starts with '-'
        ["sr0", "--name", "A", "-nw", "1", "--", "true"],    // short flags together
        ["sr0", "--name", "A", "-n", "-w", "1", "--", "true"], // refused by validate()
        ["sr0", "--name", "bad/name", "--", "true"],         // refused by validate()
        ["sr0", "--name", "A", "-E", "256", "--", "true"],   // refused by validate()
        ["sr0", "--name", "A", "-w", "soon", "--", "true"],  // not a number
        ["sr0", "sr1", "--name", "A", "--", "true"],         // two recorders
        ["--name", "A", "--", "true"],                       // no recorder
        ["sr0", "--name", "A", "--help", "--", "true"],
        ["sr0", "--name", "A", "--verbose", "--", "true"],   // unknown
    ])
    func otherForms(_ arguments: [String]) {
        #expect(HoldRequest(quickParsing: arguments) == nil)
    }

    /// Command lines of `hold`: a recorder and `--name A` among 0 to 4 other
    /// pieces (an option with its value, good or bad, a flag, a stray word),
    /// in any order, then, most of the time, `--` and a command: often
    /// valid, often nearly.
    static let commandLines = zip(
        Gen.element(of: [
            ["/recorders/sr0"], ["--name", "My App"], ["--name", "bad/name"], ["--name", "-A"], ["--name", ""],
            ["--mountpoint", "/mnt/r"], ["--mountpoint", "/mnt/r"], ["-w", "2.5"], ["--wait", "0"],
            ["--timeout", "-1"], ["-w", "inf"], ["-w", "nan"], ["-w", "0x10"], ["-w", "1e3"], ["-n"], ["--nonblock"],
            ["--nb"], ["-E", "255"], ["--conflict-exit-code", "+3"], ["-E", "256"], ["-E", "07"], ["--force"],
            ["--force"], ["--name=A"], ["-h"], ["--version"], ["-nw", "1"], ["x"],
        ]).map { $0! }.array(of: 0...4),
        Gen.int(in: 0...4),
        Gen.int(in: 0...5),
        Gen.element(of: [[], ["--"], ["--", "true"], ["--", "true"], ["--", "sh", "-c", "exit 3"], ["--", "--"]]).map { $0! }
    ).map { others, recorderAt, nameAt, command in
        var pieces = others
        pieces.insert(["sr0"], at: min(recorderAt, pieces.count))
        pieces.insert(["--name", "A"], at: min(nameAt, pieces.count))
        return pieces.flatMap { $0 } + command
    }

    @Test("on random command lines, whatever the quick reading accepts the parser reads the same way")
    func matchesTheParser() async {
        let accepted = Counter()
        await propertyCheck(count: 1500, input: Self.commandLines) { arguments in
            if let quick = HoldRequest(quickParsing: arguments) {
                accepted.add()
                #expect(quick == Self.parsed(arguments), "\(arguments)")
            }
        }
        // The check means something only if the quick reading accepts a fair share.
        #expect(accepted.value > 150, "accepted \(accepted.value) of 1500")
    }
}

final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    func add() { lock.withLock { count += 1 } }
    var value: Int { lock.withLock { count } }
}
