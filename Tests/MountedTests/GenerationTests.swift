import Testing

extension Mounted {
    /// `generation`: +1 per free→locked transition, and nothing else.
    @Suite("Generation")
    struct GenerationTests {
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

        @Test("generation: +1 per free→locked transition, whatever the way; never on nesting, refusals or releases")
        func generationTransitions() throws {
            try withRecorder { recorder in
                #expect(try recorder.generation() == 0)
                let agent = try recorder.workspace.agent()
                let handle = try agent.hold(recorder.path("acquire"), "A")
                #expect(try recorder.generation() == 1)
                #expect(try writeOnce(recorder.path("acquire"), "B") == "EBUSY")
                #expect(try writeOnce(recorder.path("acquire"), "A/B") == "EINVAL")
                #expect(try agent.write(handle, "A") == .ok(1))
                // Another handle, even of the same name, is refused.
                #expect(try writeOnce(recorder.path("acquire_force"), "A") == "EBUSY")
                #expect(try agent.write(handle, "A") == .ok(1))
                try expectHeld(recorder, by: "A", count: 3)
                #expect(try recorder.generation() == 1)
                #expect(try writeOnce(recorder.path("release"), "A") == "OK 1")
                #expect(try writeOnce(recorder.path("release"), "A") == "OK 1")
                #expect(try writeOnce(recorder.path("release"), "A") == "OK 1")
                try expectFree(recorder)
                #expect(try recorder.generation() == 1)
                // The same open handle locks again: a new transition.
                #expect(try agent.write(handle, "A") == .ok(1))
                #expect(try recorder.generation() == 2)
                #expect(try agent.close(handle) == .ok(0))
                #expect(try recorder.generation() == 2)
                for expected in 3...5 {
                    #expect(try writeOnce(recorder.path("acquire_force"), "C") == "OK 1")
                    #expect(try recorder.generation() == UInt64(expected))
                }
                try expectFree(recorder)
            }
        }
    }
}
