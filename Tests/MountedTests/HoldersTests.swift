#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing

extension Mounted {
    /// `holders`: one line per handle that holds locks, with the pid that
    /// took its first lock, through nesting, release, fork and other uids.
    @Suite("Holders")
    struct HoldersTests {
        /// One line of `holders`, without its time.
        struct HolderLine: Equatable, CustomStringConvertible {
            var name: String
            var pid: Int
            var uid: Int
            var count: Int

            var description: String { "\(name) pid=\(pid) uid=\(uid) count=\(count)" }
        }

        /// `holders` of `recorder`, each line checked against the format
        /// `NAME pid=PID uid=UID count=N since=YYYY-MM-DDTHH:MM:SSZ` and its
        /// time against the clock (not before `earliest`, not in the future).
        static func holders(_ recorder: MountedRecorder, since earliest: Date,
                            sourceLocation: SourceLocation = #_sourceLocation) throws -> [HolderLine] {
            let text = try recorder.cat("holders")
            let latest = Date()
            if !text.isEmpty && !text.hasSuffix("\n") {
                Issue.record("holders does not end with a newline: \(text.debugDescription)", sourceLocation: sourceLocation)
            }
            let format = /([A-Za-z0-9 .,:;_-]{1,63}) pid=([0-9]+) uid=([0-9]+) count=([0-9]+) since=(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)/
            return text.split(separator: "\n", omittingEmptySubsequences: false).dropLast().compactMap { line in
                guard let match = line.wholeMatch(of: format), let pid = Int(match.2), let uid = Int(match.3),
                      let count = Int(match.4) else {
                    Issue.record("holders line \(String(line).debugDescription) has not the format", sourceLocation: sourceLocation)
                    return nil
                }
                let since = ISO8601DateFormatter().date(from: String(match.5))
                let inWindow = since.map { $0 >= earliest.addingTimeInterval(-1) && $0 <= latest.addingTimeInterval(1) } ?? false
                #expect(inWindow, "since=\(match.5) is not between \(earliest) and \(latest)", sourceLocation: sourceLocation)
                return HolderLine(name: String(match.1), pid: pid, uid: uid, count: count)
            }
        }

        @Test("holders: a release drops the count, a forked child keeps the line until both close, another uid's second handle is refused")
        func holdersThroughReleaseAndFork() throws {
            try withRecorder(["--allow-other"]) { recorder in
                let start = Date()
                let agent = try recorder.workspace.agent()
                let handle = try agent.hold(recorder.path("acquire"), "MyApp")
                #expect(try agent.write(handle, "MyApp") == .ok(5))
                #expect(try Self.holders(recorder, since: start) == [HolderLine(name: "MyApp", pid: Int(agent.pid), uid: 0, count: 2)])

                #expect(try writeOnce(recorder.path("release"), "MyApp") == "OK 5")
                #expect(try Self.holders(recorder, since: start) == [HolderLine(name: "MyApp", pid: Int(agent.pid), uid: 0, count: 1)])
                try expectHeld(recorder, by: "MyApp", count: 1)

                // The child inherits the handle: its line stays, with the pid
                // that took the first lock, until both have closed it.
                guard case .ok(let child) = try agent.fork() else { throw TestFailure("fork failed") }
                #expect(try agent.close(handle) == .ok(0))
                #expect(try Self.holders(recorder, since: start) == [HolderLine(name: "MyApp", pid: Int(agent.pid), uid: 0, count: 1)])
                try expectHeld(recorder, by: "MyApp", count: 1)
                #expect(try agent.endChild(child) == .ok(0))
                #expect(try recorder.cat("holders") == "")
                try expectFree(recorder)

                // Another uid, two handles of one process: one handle, one
                // holder, so the second is refused and there is one line.
                let stranger = try recorder.workspace.agent(user: asNobody(group: try diskGroup()))
                let first = try stranger.hold(recorder.path("acquire"), "Nobody")
                let second = try stranger.openDescriptor(recorder.path("acquire"))
                #expect(try stranger.write(second, "Nobody") == .failed("EBUSY"))
                #expect(try stranger.write(first, "Nobody") == .ok(6))
                #expect(try stranger.write(first, "Nobody") == .ok(6))
                let line = { (count: Int) in HolderLine(name: "Nobody", pid: Int(stranger.pid), uid: 65534, count: count) }
                #expect(try Self.holders(recorder, since: start) == [line(3)])
                try expectHeld(recorder, by: "Nobody", count: 3)
                // release drops the most recent lock.
                #expect(try writeOnce(recorder.path("release"), "Nobody") == "OK 6")
                #expect(try Self.holders(recorder, since: start) == [line(2)])
                // The refused handle holds nothing: closing it changes nothing.
                #expect(try stranger.close(second) == .ok(0))
                #expect(try Self.holders(recorder, since: start) == [line(2)])
                #expect(try stranger.close(first) == .ok(0))
                #expect(try recorder.cat("holders") == "")
                try expectFree(recorder)
            }
        }

        @Test("holders lists the holding handle, one line at most, with the pid that took its first lock")
        func holders() throws {
            try withRecorder { recorder in
                #expect(try recorder.cat("holders") == "")
                let first = try recorder.workspace.agent()
                let firstHandle = try first.hold(recorder.path("acquire"), "MyApp")
                #expect(try first.write(firstHandle, "MyApp") == .ok(5))
                // One handle, one holder: another process of the same name is refused.
                let second = try recorder.workspace.agent()
                let secondHandle = try second.openDescriptor(recorder.path("acquire"))
                #expect(try second.write(secondHandle, "MyApp") == .failed("EBUSY"))

                let since = /since=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ/
                let lines = try recorder.cat("holders").split(separator: "\n", omittingEmptySubsequences: false)
                #expect(lines.count == 2 && lines.last == "", "holders: \(lines)")
                #expect(lines.first?.replacing(since, with: "since=T") == "MyApp pid=\(first.pid) uid=0 count=2 since=T")

                #expect(try first.close(firstHandle) == .ok(0))
                #expect(try recorder.cat("holders") == "")
                // Now the second handle takes it: its line, its pid.
                #expect(try second.write(secondHandle, "MyApp") == .ok(5))
                #expect(try recorder.cat("holders").replacing(since, with: "since=T")
                    == "MyApp pid=\(second.pid) uid=0 count=1 since=T\n")
                second.child.end()
                #expect(try recorder.cat("holders") == "")
            }
        }
    }
}
