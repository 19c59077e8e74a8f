#if canImport(Glibc)
import Glibc
#endif
import PropertyBased
import Testing
@testable import RecorderCore

/// Property-based tests of the core: the name parser against a reference
/// written from docs/design.md §2, and the lock table against a pure model of
/// docs/design.md §3 (one handle, one holder: only the holding handle nests, with its
/// name; its count, most-recent-first release, generation, the drive claim),
/// over random sequences of steps.
///
/// A failure prints the input and a seed; add `.fixedSeed("...")` to the
/// test to replay exactly that case.
@Suite("Properties")
struct PropertyTests {
    // MARK: Names

    /// The allowed bytes, written out independently of the parser.
    static let allowed: Set<UInt8> = Set(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 .,:;-_".utf8)

    /// docs/design.md §2 as a reference: one trailing "\n" stripped, then 1 to 63
    /// allowed bytes; the name, or nil when it must be refused.
    static func reference(_ bytes: [UInt8]) -> [UInt8]? {
        var body = bytes
        if body.last == 0x0A { body.removeLast() }
        guard (1...63).contains(body.count), body.allSatisfy(allowed.contains) else { return nil }
        return body
    }

    /// Byte arrays that are often valid, often almost valid: mostly allowed
    /// bytes, some newlines, some bytes of any value; lengths 0 to 80 (past
    /// the limit of 63), with or without one more trailing "\n".
    static let bytes = zip(
        Gen.frequency(
            (weight: 30, gen: Gen.element(of: allowed.sorted()).map { $0! }),
            (weight: 1, gen: Gen.always(UInt8(0x0A))),
            (weight: 1, gen: Gen.uint8(in: 0...255))
        ).array(of: 0...80),
        Gen.bool
    ).map { body, newline in newline ? body + [0x0A] : body }

    /// Any byte value, uniformly: almost never a valid name.
    static let noise = Gen.uint8(in: 0...255).array(of: 0...70)

    @Test("a write is accepted iff it is 1-63 allowed bytes after one trailing newline; the name is the rest")
    func parserMatchesReference() async {
        await propertyCheck(count: 2000, input: Self.bytes) { bytes in
            Self.checkParser(bytes)
        }
        await propertyCheck(count: 500, input: Self.noise) { bytes in
            Self.checkParser(bytes)
        }
    }

    static func checkParser(_ bytes: [UInt8], sourceLocation: SourceLocation = #_sourceLocation) {
        let expected = reference(bytes)
        let parsed = Result { () throws(RecorderError) in try ClientName(parsing: bytes) }
        switch (parsed, expected) {
        case (.success(let name), .some(let body)):
            #expect(Array(name.value.utf8) == body, "input \(bytes)", sourceLocation: sourceLocation)
            #expect(name.description == name.value, sourceLocation: sourceLocation)
        case (.failure(let error), nil):
            #expect(error.kind == .invalidName, "input \(bytes)", sourceLocation: sourceLocation)
        case (.success(let name), nil):
            Issue.record("accepted \(bytes) as \(name.value.debugDescription)", sourceLocation: sourceLocation)
        case (.failure(let error), .some):
            Issue.record("refused \(bytes): \(error)", sourceLocation: sourceLocation)
        }
        // The FUSE adapter hands the core the raw write buffer: same answer.
        let fromBuffer = bytes.withUnsafeBytes { buffer in
            Result { () throws(RecorderError) in try ClientName(parsing: buffer) }
        }
        #expect((try? fromBuffer.get()) == (try? parsed.get()), "input \(bytes)", sourceLocation: sourceLocation)
    }

    @Test("a valid name parses to itself, with or without its newline, and from a String")
    func validNamesRoundTrip() async {
        let names = Gen.element(of: Self.allowed.sorted()).map { $0! }.array(of: 1...63)
        await propertyCheck(count: 1000, input: names) { body in
            let plain = try? ClientName(parsing: body)
            let withNewline = try? ClientName(parsing: body + [0x0A])
            let fromString = try? ClientName(String(decoding: body, as: UTF8.self))
            #expect(plain != nil, "\(body)")
            #expect(plain == withNewline && plain == fromString, "\(body)")
            #expect(plain.map { Array($0.value.utf8) } == body)
            // One newline too many, or a forbidden byte anywhere: refused.
            #expect((try? ClientName(parsing: body + [0x0A, 0x0A])) == nil)
            // One more allowed byte: accepted up to 63 bytes.
            #expect(((try? ClientName(parsing: body + [0x41])) != nil) == (body.count < 63), "\(body)")
        }
    }

    // MARK: The lock table

    /// One step of a client session. Handles and callers are picked by index
    /// (modulo what exists), so that every shrunk sequence is still valid.
    enum Step: Sendable, CustomStringConvertible {
        /// A caller opens `acquire` (a new handle).
        case open(caller: Int)
        /// A caller writes a name to an open handle (`acquire_force` when `force`).
        case acquire(handle: Int, name: Int, caller: Int, force: Bool)
        /// A caller writes a name to `release`.
        case release(name: Int, caller: Int)
        /// The last descriptor of an open handle is closed (FUSE RELEASE).
        case close(handle: Int)
        /// The recorder goes away (unplugged).
        case remove

        var description: String {
            switch self {
            case .open(let caller): "open(\(PropertyTests.callers[caller % 3].uid))"
            case .acquire(let handle, let name, let caller, let force):
                "\(force ? "acquire_force" : "acquire")(#\(handle), \(PropertyTests.names[name % 2]), uid \(PropertyTests.callers[caller % 3].uid))"
            case .release(let name, let caller): "release(\(PropertyTests.names[name % 2]), uid \(PropertyTests.callers[caller % 3].uid))"
            case .close(let handle): "close(#\(handle))"
            case .remove: "remove"
            }
        }
    }

    static let names = [Fixture.appA, Fixture.appB]
    /// Root, and two users. The pid of each step is its own (1000 + index).
    static let callers = [Fixture.root, Fixture.alice, Fixture.bob]

    static let step = Gen.frequency(
        (weight: 3, gen: Gen.int(in: 0...2).map { Step.open(caller: $0) }),
        (weight: 8, gen: zip(Gen.int(in: 0...15), Gen.int(in: 0...1), Gen.int(in: 0...2), Gen.bool(0.2))
            .map { Step.acquire(handle: $0.0, name: $0.1, caller: $0.2, force: $0.3) }),
        (weight: 3, gen: zip(Gen.int(in: 0...1), Gen.int(in: 0...2)).map { Step.release(name: $0.0, caller: $0.1) }),
        (weight: 3, gen: Gen.int(in: 0...15).map { Step.close(handle: $0) }),
        (weight: 0.15, gen: Gen.always(Step.remove))
    )

    /// docs/design.md §3 without threads, FUSE or a drive.
    struct Model {
        struct Registration {
            var uid: UInt32
            var pid: Int32
            var count: Int
            /// The wall clock (seconds) just before and just after the step
            /// that took the handle's first lock: `since` lies between them.
            var window: ClosedRange<Int>
            /// The order of the handles' first locks: `holders` lists them so.
            var sequence: Int
        }

        var holder: Holder?
        var generation: UInt64 = 0
        var removed = false
        /// The handle of each lock held, most recent last.
        var stack: [UInt64] = []
        /// The handles that hold locks, by handle id.
        var registrations: [UInt64: Registration] = [:]
        /// Open handles: id and the uid that opened it.
        var open: [(id: UInt64, uid: UInt32)] = []
        var nextSequence = 0

        var count: Int { stack.count }

        var snapshot: RecorderSnapshot {
            RecorderSnapshot(holder: holder, lockCount: count, generation: generation)
        }

        /// Open handles and locks per non-root uid (UsageLimits).
        func usage(of uid: UInt32) -> (handles: Int, locks: Int) {
            (open.filter { $0.uid == uid }.count, registrations.values.filter { $0.uid == uid }.reduce(0) { $0 + $1.count })
        }

        mutating func acquire(_ name: ClientName, handle id: UInt64, caller: Caller, window: ClosedRange<Int>) -> RecorderError.Kind? {
            if removed { return .noDevice }
            if let holder {
                // One handle, one holder: only the handle that holds the
                // locks nests, with the holder's name, whoever writes.
                guard registrations[id] != nil, holder.name == name else { return .busy }
            } else {
                holder = Holder(name: name, uid: caller.uid)
                generation += 1
            }
            if registrations[id] == nil {
                registrations[id] = Registration(uid: caller.uid, pid: caller.pid, count: 0, window: window, sequence: nextSequence)
                nextSequence += 1
            }
            registrations[id]!.count += 1
            stack.append(id)
            return nil
        }

        mutating func release(_ name: ClientName, caller: Caller) -> RecorderError.Kind? {
            if removed { return .noDevice }
            guard let holder, holder.name == name else { return .noLock }
            guard caller.uid == holder.uid || caller.uid == 0 else { return .notPermitted }
            let id = stack.removeLast()
            registrations[id]!.count -= 1
            if registrations[id]!.count == 0 { registrations[id] = nil }
            if stack.isEmpty { self.holder = nil }
            return nil
        }

        mutating func close(_ index: Int) -> UInt64 {
            let (id, _) = open.remove(at: index)
            stack.removeAll { $0 == id }
            registrations[id] = nil
            if stack.isEmpty { holder = nil }
            return id
        }

        mutating func remove() {
            removed = true
            holder = nil
            stack = []
            registrations = [:]
        }
    }

    @Test("random sessions of acquire, release, close and remove: the recorder always equals the model")
    func lockTableMatchesModel() async {
        await propertyCheck(count: 300, input: Self.step.array(of: 1...80)) { steps in
            Self.replay(steps)
        }
    }

    /// Runs `steps` on a recorder over a fake drive and on the model, and
    /// compares everything visible after each step.
    static func replay(_ steps: [Step]) {
        let (recorder, drive) = Fixture.recorder()
        var model = Model()
        var handles: [UInt64: LockHandle] = [:]
        var trace: [String] = []

        func open(_ caller: Caller) -> Bool {
            do {
                let handle = try recorder.makeHandle(caller: caller)
                handles[handle.id] = handle
                model.open.append((handle.id, caller.uid))
                return true
            } catch {
                Issue.record("open as uid \(caller.uid) failed: \(error); steps: \(trace)")
                return false
            }
        }

        for (index, step) in steps.enumerated() {
            trace.append(step.description)
            let pid = Int32(1000 + index)
            switch step {
            case .open(let who):
                var caller = callers[who % 3]
                caller.pid = pid
                guard open(caller) else { return }
            case .acquire(let which, let nameIndex, let who, let force):
                var caller = callers[who % 3]
                caller.pid = pid
                if model.open.isEmpty {
                    guard open(caller) else { return }
                }
                let id = model.open[which % model.open.count].id
                let name = names[nameIndex % 2]
                let before = Recorder.wallClock()
                let outcome = Result { () throws(RecorderError) in
                    try handles[id]!.acquire(name, caller: caller, force: force)
                }
                let expected = model.acquire(name, handle: id, caller: caller, window: before...Recorder.wallClock())
                #expect(outcome.kind == expected, "step \(index) of \(trace)")
            case .release(let nameIndex, let who):
                var caller = callers[who % 3]
                caller.pid = pid
                let name = names[nameIndex % 2]
                let outcome = Result { () throws(RecorderError) in try recorder.release(name, caller: caller) }
                #expect(outcome.kind == model.release(name, caller: caller), "step \(index) of \(trace)")
            case .close(let which):
                guard !model.open.isEmpty else { continue }
                let id = model.close(which % model.open.count)
                handles.removeValue(forKey: id)!.closed()
            case .remove:
                recorder.remove()
                model.remove()
            }
            guard compare(recorder, drive, model, trace) else { return }
        }
        // Every handle closes in the end (the processes exit): all free.
        while !model.open.isEmpty {
            let id = model.close(0)
            handles.removeValue(forKey: id)!.closed()
        }
        trace.append("close all")
        _ = compare(recorder, drive, model, trace)
        for caller in callers {
            #expect(recorder.limits.usage(of: caller.uid) == (0, 0) || caller.uid == 0, "uid \(caller.uid) after \(trace)")
        }
    }

    /// Whether the recorder shows what the model holds (and records an
    /// issue for each difference).
    static func compare(_ recorder: Recorder, _ drive: FakeDrive, _ model: Model, _ trace: [String]) -> Bool {
        let context = "after \(trace)"
        var same = true
        func check(_ condition: Bool, _ what: String) {
            if !condition {
                Issue.record("\(what) \(context)")
                same = false
            }
        }
        if model.removed {
            check((try? recorder.snapshot()) == nil, "snapshot of a removed recorder did not fail")
            check((try? recorder.holders()) == nil, "holders of a removed recorder did not fail")
        } else {
            let snapshot = try? recorder.snapshot()
            check(snapshot == model.snapshot, "snapshot \(String(describing: snapshot)), model \(model.snapshot)")

            // holders: one record per handle with locks, in the order of
            // their first locks; one handle, one holder, so at most one.
            // The pid of each step is unique, so a record's pid names the
            // step that registered its handle.
            let records = (try? recorder.holders()) ?? []
            let expected = model.registrations.values.sorted { $0.sequence < $1.sequence }
            check(model.registrations.count <= 1, "the model has \(model.registrations.count) holding handles")
            check(records.count <= 1, "holders has \(records.count) records: \(records)")
            check(records.map(\.pid) == expected.map(\.pid), "holders \(records), model \(expected)")
            for (record, registration) in zip(records, expected) {
                check(record.name == model.holder?.name, "record \(record) name, holder \(String(describing: model.holder))")
                check(record.uid == registration.uid && record.count == registration.count,
                      "record \(record), model \(registration)")
                check(registration.window.contains(record.since), "record \(record) since outside \(registration.window)")
            }
        }
        check(drive.claimed == (model.count > 0), "drive claimed \(drive.claimed) with \(model.count) locks in the model")
        check(drive.violations.isEmpty, "drive protocol violations \(drive.violations)")
        for caller in callers where caller.uid != 0 {
            let usage = recorder.limits.usage(of: caller.uid)
            let expected = model.usage(of: caller.uid)
            check(usage == expected, "usage of uid \(caller.uid) \(usage), model \(expected)")
        }
        return same
    }
}
