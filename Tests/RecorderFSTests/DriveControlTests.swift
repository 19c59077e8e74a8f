import Testing

extension MountedTests {
    @Suite("Holders, generation and the tray")
    struct DriveControlTests {
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

        @Test("generation goes up by one from free to locked, never on nesting")
        func generation() throws {
            try withRecorder { recorder in
                #expect(try recorder.generation() == 0)
                let agent = try recorder.workspace.agent()
                let handle = try agent.hold(recorder.path("acquire"), "A")
                #expect(try recorder.generation() == 1)
                #expect(try agent.write(handle, "A") == .ok(1))
                // Refused through another handle: no transition either.
                #expect(try writeOnce(recorder.path("acquire"), "A") == "EBUSY")
                #expect(try recorder.generation() == 1)
                #expect(try agent.close(handle) == .ok(0))
                #expect(try recorder.generation() == 1)
                #expect(try writeOnce(recorder.path("acquire"), "B") == "OK 1")
                #expect(try recorder.generation() == 2)
            }
        }

        @Test("eject and closetray on a loop device (no tray) answer EOPNOTSUPP")
        func trayOnLoopDevice() throws {
            try withRecorder { recorder in
                // EOPNOTSUPP and ENOTSUP are one number on Linux; python names it ENOTSUP.
                #expect(try writeOnce(recorder.path("eject"), "x") == "ENOTSUP")
                #expect(try writeOnce(recorder.path("closetray"), "x") == "ENOTSUP")
                #expect(try probe("os.open(a[0], os.O_RDONLY)", recorder.path("eject")) == "EACCES")
                try expectFree(recorder)
            }
        }
    }
}
