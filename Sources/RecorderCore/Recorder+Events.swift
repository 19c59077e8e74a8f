#if canImport(Glibc)
import Glibc
#endif
import Logging
import Synchronization

extension Recorder {
    /// The number of lock state changes so far: it moves whenever `owner`,
    /// `lockcount`, `holders` or `generation` may have.
    public var changes: UInt64 { changeCount.load(ordering: .sequentiallyConsistent) }

    /// A change counted, logged, and made an event only if the observer
    /// wants it (a nest, say, with no reader of `events` and no poller).
    func changed(_ kind: RecorderEvent.Kind, _ name: ClientName, _ pid: Int32, _ uid: UInt32, generation: UInt64) {
        changeCount.add(1, ordering: .sequentiallyConsistent)
        tell(kind, name, pid, uid, generation: generation)
    }

    /// A change counted already: logged, and told to the observer if it
    /// wants it.
    func tell(_ kind: RecorderEvent.Kind, _ name: ClientName, _ pid: Int32, _ uid: UInt32, generation: UInt64) {
        // Asked here, not in `logChange`: its call alone, with the name
        // passed, costs more than the question.
        if logsChanges { logChange(kind, name, pid, uid, generation: generation) }
        guard let observer, observer.wants(kind) else { return }
        observer.recorderChanged(RecorderEvent(kind: kind, recorder: self.name, name: name, pid: pid, uid: uid,
                                               generation: generation))
    }

    private func logChange(_ kind: RecorderEvent.Kind, _ name: ClientName, _ pid: Int32, _ uid: UInt32,
                           generation: UInt64) {
        logger.info("\(kind.rawValue)", metadata: [
            "name": "\(name)", "pid": "\(pid)", "uid": "\(uid)", "gen": "\(generation)",
        ])
    }

    /// Each lock, nest, unlock and free is also one log line at info, with
    /// the recorder, name, pid and uid (the journal's counterpart of the
    /// event log entry Windows writes); refusals are logged at notice.
    func changed(_ event: RecorderEvent) {
        if event.kind != .refused {
            changeCount.add(1, ordering: .sequentiallyConsistent)
            if logsChanges, let name = event.name {
                logChange(event.kind, name, event.pid, event.uid, generation: event.generation)
            }
        }
        observer?.recorderChanged(event)
    }

    /// Logs each refusal once, with who asked and why. The reason never
    /// holds bytes a client wrote, except a name that passed validation.
    /// Logs a refusal the adapter made itself (a name that does not parse),
    /// as the core logs its own.
    public func refused(_ operation: String, caller: Caller, _ error: RecorderError, name: ClientName? = nil) {
        var metadata: Logger.Metadata = [
            "op": "\(operation)", "pid": "\(caller.pid)", "uid": "\(caller.uid)", "reason": "\(error)",
        ]
        if let name { metadata["name"] = "\(name)" }
        logger.notice("refused", metadata: metadata)
    }

    /// A refusal (EBUSY) of a lock for `name` is also an event.
    func refusalsLogged<T>(_ operation: String, _ caller: Caller, refusing name: ClientName? = nil,
                                   _ body: () throws(RecorderError) -> T) throws(RecorderError) -> T {
        do {
            return try body()
        } catch {
            refused(operation, caller: caller, error, name: name)
            if case .busy = error, let name, observer?.wants(.refused) == true {
                let (holder, generation) = table.withLock { ($0.holder?.name ?? $0.claimant?.name, $0.generation) }
                changed(RecorderEvent(kind: .refused, recorder: self.name, name: name, pid: caller.pid, uid: caller.uid,
                                      generation: generation, holder: holder))
            }
            throw error
        }
    }

    /// `map`, and a device that is not the recorder's any more is logged
    /// as an error with why.
    func mapLogging(_ error: DriveError) -> RecorderError {
        if case .replaced(let why) = error {
            logger.error("refusing a device that is not the recorder's", metadata: ["reason": "\(why)"])
        }
        return Self.map(error)
    }

    static func map(_ error: DriveError) -> RecorderError {
        switch error {
        case .busy(let why): .busy(why)
        case .timedOut: .timedOut
        case .gone, .replaced: .noDevice
        case .failed(let why, _): .io(why)
        case .unsupported: .unsupported
        }
    }
}
