#if canImport(Glibc)
import Glibc
#endif
import Testing

extension Mounted {
    /// Issue I: a lock belongs to one open file description of `acquire` or
    /// `acquire_force`, shared by fork, dup and descriptor passing. While it
    /// holds locks, every write through another handle is EBUSY, whatever
    /// its name and whoever writes it; `holders` has at most one line.
    @Suite("One handle, one holder")
    struct OneHolderTests {
        /// `holders` with its time replaced by T, e.g. "A pid=1 uid=0 count=2 since=T\n".
        static func holders(_ recorder: MountedRecorder) throws -> String {
            try recorder.cat("holders").replacing(/since=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ/, with: "since=T")
        }

        /// The descriptor of a reply, or the test fails.
        static func descriptor(_ reply: Reply, _ what: String) throws -> Int {
            guard case .ok(let value) = reply else { throw TestFailure("\(what): \(reply)") }
            return value
        }

        @Test("two handles of one process, same name: the second is EBUSY and nothing changes")
        func twoHandlesOfOneProcess() throws {
            try withRecorder { recorder in
                let agent = try recorder.workspace.agent()
                let first = try agent.hold(recorder.path("acquire"), "MyApp")
                let line = { (count: Int) in "MyApp pid=\(agent.pid) uid=0 count=\(count) since=T\n" }
                try expectHeld(recorder, by: "MyApp", count: 1)
                #expect(try recorder.generation() == 1)

                let second = try agent.openDescriptor(recorder.path("acquire"))
                let forced = try agent.openDescriptor(recorder.path("acquire_force"))
                #expect(try agent.write(second, "MyApp") == .failed("EBUSY"))
                #expect(try agent.write(second, "MyApp\n") == .failed("EBUSY"))
                #expect(try agent.write(forced, "MyApp") == .failed("EBUSY"))
                // Another name through the second handle is refused as well.
                #expect(try agent.write(second, "Other") == .failed("EBUSY"))
                try expectHeld(recorder, by: "MyApp", count: 1)
                #expect(try Self.holders(recorder) == line(1))
                #expect(try recorder.generation() == 1)

                // Closing a refused handle changes nothing; the holder's nests.
                #expect(try agent.close(second) == .ok(0))
                try expectHeld(recorder, by: "MyApp", count: 1)
                #expect(try agent.write(first, "MyApp") == .ok(5))
                try expectHeld(recorder, by: "MyApp", count: 2)
                #expect(try Self.holders(recorder) == line(2))

                // Once the holder's handle is closed, the other handle takes it anew.
                #expect(try agent.close(first) == .ok(0))
                try expectFree(recorder)
                #expect(try agent.write(forced, "MyApp") == .ok(5))
                try expectHeld(recorder, by: "MyApp", count: 1)
                #expect(try recorder.generation() == 2)
                #expect(try agent.close(forced) == .ok(0))
                try expectFree(recorder)
            }
        }

        @Test("two processes, same name: the second is EBUSY")
        func twoProcesses() throws {
            try withRecorder { recorder in
                let holder = try recorder.workspace.agent()
                let handle = try holder.hold(recorder.path("acquire"), "MyApp")
                let other = try recorder.workspace.agent()
                let otherHandle = try other.openDescriptor(recorder.path("acquire"))

                #expect(try other.write(otherHandle, "MyApp") == .failed("EBUSY"))
                #expect(try writeOnce(recorder.path("acquire"), "MyApp") == "EBUSY")
                #expect(try writeOnce(recorder.path("acquire_force"), "MyApp\n") == "EBUSY")
                try expectHeld(recorder, by: "MyApp", count: 1)
                #expect(try Self.holders(recorder) == "MyApp pid=\(holder.pid) uid=0 count=1 since=T\n")
                #expect(try recorder.generation() == 1)

                // `release` stays per name and uid: the other process may drop
                // the holder's lock, but that gives it nothing.
                #expect(try holder.write(handle, "MyApp") == .ok(5))
                #expect(try writeOnce(recorder.path("release"), "MyApp") == "OK 5")
                try expectHeld(recorder, by: "MyApp", count: 1)
                #expect(try other.write(otherHandle, "MyApp") == .failed("EBUSY"))

                // The holder goes: the second process takes it, and it is the holder now.
                holder.child.end()
                try expectFree(recorder)
                #expect(try other.write(otherHandle, "MyApp") == .ok(5))
                #expect(try Self.holders(recorder) == "MyApp pid=\(other.pid) uid=0 count=1 since=T\n")
                #expect(try recorder.generation() == 2)
                #expect(try other.close(otherHandle) == .ok(0))
                try expectFree(recorder)
            }
        }

        @Test("fork shares the handle: the child's write through the inherited descriptor nests; the lock stays until both have closed")
        func forkShares() throws {
            try withRecorder { recorder in
                let agent = try recorder.workspace.agent()
                let handle = try agent.hold(recorder.path("acquire"), "Forked")
                let child = try Self.descriptor(try agent.fork(), "fork")

                #expect(try agent.childWrite(child, handle, "Forked") == .ok(6))
                try expectHeld(recorder, by: "Forked", count: 2)
                // One line: the handle's, with the pid that took its first lock.
                #expect(try Self.holders(recorder) == "Forked pid=\(agent.pid) uid=0 count=2 since=T\n")
                // Another name through the shared handle is refused.
                #expect(try agent.childWrite(child, handle, "Other") == .failed("EBUSY"))
                // A handle of the parent's own that it did not share is another handle.
                let own = try agent.openDescriptor(recorder.path("acquire"))
                #expect(try agent.write(own, "Forked") == .failed("EBUSY"))
                #expect(try agent.close(own) == .ok(0))

                // The parent closes its descriptor: the child's keeps the lock, and nests.
                #expect(try agent.close(handle) == .ok(0))
                try expectHeld(recorder, by: "Forked", count: 2)
                #expect(try agent.childWrite(child, handle, "Forked\n") == .ok(7))
                try expectHeld(recorder, by: "Forked", count: 3)
                #expect(try writeOnce(recorder.path("acquire"), "Forked") == "EBUSY")
                #expect(try recorder.generation() == 1)

                // The child closes it too: free.
                #expect(try agent.childClose(child, handle) == .ok(0))
                try expectFree(recorder)
                #expect(try recorder.cat("holders") == "")
                #expect(try agent.endChild(child) == .ok(0))
                try expectFree(recorder)
            }
        }

        @Test("a fork()ed child that nested keeps every lock of the handle until it exits")
        func forkedChildExits() throws {
            try withRecorder { recorder in
                let agent = try recorder.workspace.agent()
                let handle = try agent.hold(recorder.path("acquire"), "Forked")
                let child = try Self.descriptor(try agent.fork(), "fork")
                #expect(try agent.childWrite(child, handle, "Forked") == .ok(6))
                #expect(try agent.close(handle) == .ok(0))
                try expectHeld(recorder, by: "Forked", count: 2)
                #expect(try agent.endChild(child) == .ok(0))
                try expectFree(recorder)
            }
        }

        @Test("dup shares the handle: writes through either descriptor nest; the lock stays until both are closed")
        func dupShares() throws {
            try withRecorder { recorder in
                let agent = try recorder.workspace.agent()
                let original = try agent.hold(recorder.path("acquire"), "Dup")
                let duplicate = try Self.descriptor(try agent.dup(original), "dup")

                #expect(try agent.write(duplicate, "Dup") == .ok(3))
                try expectHeld(recorder, by: "Dup", count: 2)
                #expect(try Self.holders(recorder) == "Dup pid=\(agent.pid) uid=0 count=2 since=T\n")
                #expect(try agent.write(duplicate, "Other") == .failed("EBUSY"))
                // A new open of the same file is another handle.
                let reopened = try agent.openDescriptor(recorder.path("acquire"))
                #expect(try agent.write(reopened, "Dup") == .failed("EBUSY"))
                #expect(try agent.close(reopened) == .ok(0))

                #expect(try agent.close(original) == .ok(0))
                try expectHeld(recorder, by: "Dup", count: 2)
                #expect(try agent.write(duplicate, "Dup") == .ok(3))
                try expectHeld(recorder, by: "Dup", count: 3)
                #expect(try recorder.generation() == 1)
                #expect(try agent.close(duplicate) == .ok(0))
                try expectFree(recorder)
            }
        }

        /// Passes the holding descriptor of `sender` to `receiver` over a unix
        /// socket in the workspace; the receiver's number for it.
        static func pass(_ descriptor: Int, from sender: Agent, to receiver: Agent, in recorder: MountedRecorder) throws -> Int {
            let path = "\(recorder.workspace.path)/pass.sock"
            unlink(path)
            let listening = try Self.descriptor(try sender.listen(path), "listen")
            // A receiver of another uid may connect too.
            chmod(path, 0o777)
            let client = try Self.descriptor(try receiver.connect(path), "connect")
            let connection = try Self.descriptor(try sender.accept(listening), "accept")
            #expect(try sender.sendDescriptor(connection, descriptor) == .ok(0))
            return try Self.descriptor(try receiver.receiveDescriptor(client), "recvfd")
        }

        @Test("descriptor passing (SCM_RIGHTS) shares the handle: the receiver nests, and the lock lives while the receiver keeps it")
        func passingShares() throws {
            try withRecorder { recorder in
                let sender = try recorder.workspace.agent()
                let receiver = try recorder.workspace.agent()
                let handle = try sender.hold(recorder.path("acquire"), "Passed")
                let received = try Self.pass(handle, from: sender, to: receiver, in: recorder)

                #expect(try receiver.write(received, "Passed") == .ok(6))
                try expectHeld(recorder, by: "Passed", count: 2)
                #expect(try Self.holders(recorder) == "Passed pid=\(sender.pid) uid=0 count=2 since=T\n")
                #expect(try receiver.write(received, "Other") == .failed("EBUSY"))
                // The receiver's own open of the file is another handle.
                let own = try receiver.openDescriptor(recorder.path("acquire"))
                #expect(try receiver.write(own, "Passed") == .failed("EBUSY"))
                #expect(try receiver.close(own) == .ok(0))

                // The sender goes away altogether: the receiver keeps the lock.
                #expect(try sender.close(handle) == .ok(0))
                sender.child.end()
                try expectHeld(recorder, by: "Passed", count: 2)
                #expect(try receiver.write(received, "Passed\n") == .ok(7))
                try expectHeld(recorder, by: "Passed", count: 3)
                #expect(try writeOnce(recorder.path("acquire"), "Passed") == "EBUSY")
                #expect(try writeOnce(recorder.path("release"), "Passed") == "OK 6")
                try expectHeld(recorder, by: "Passed", count: 2)
                #expect(try recorder.generation() == 1)

                #expect(try receiver.close(received) == .ok(0))
                try expectFree(recorder)
                #expect(try recorder.cat("holders") == "")
            }
        }

        @Test("a descriptor passed to another uid nests too; the holder stays the first uid, and release stays the holder uid's")
        func passingToAnotherUid() throws {
            try withRecorder(["--allow-other"]) { recorder in
                let sender = try recorder.workspace.agent()
                let nobody = asNobody(group: try diskGroup())
                let receiver = try recorder.workspace.agent(user: nobody)
                let handle = try sender.hold(recorder.path("acquire"), "Passed")
                let received = try Self.pass(handle, from: sender, to: receiver, in: recorder)

                #expect(try receiver.write(received, "Passed") == .ok(6))
                try expectHeld(recorder, by: "Passed", count: 2)
                #expect(try Self.holders(recorder) == "Passed pid=\(sender.pid) uid=0 count=2 since=T\n")
                // Its own open of the file is another handle; release is per uid.
                #expect(try writeOnce(recorder.path("acquire"), "Passed", user: nobody) == "EBUSY")
                #expect(try writeOnce(recorder.path("release"), "Passed", user: nobody) == "EPERM")
                try expectHeld(recorder, by: "Passed", count: 2)

                #expect(try sender.close(handle) == .ok(0))
                try expectHeld(recorder, by: "Passed", count: 2)
                #expect(try receiver.close(received) == .ok(0))
                try expectFree(recorder)
            }
        }
    }
}
