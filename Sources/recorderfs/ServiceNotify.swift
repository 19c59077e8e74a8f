#if canImport(Glibc)
import Glibc
#endif
import RecorderCore

/// systemd's readiness protocol (sd_notify(3)) without libsystemd: one
/// datagram to the unix socket `$NOTIFY_SOCKET` (a path, or an abstract
/// name written with a leading `@`). Does nothing when it is not set.
enum ServiceNotify {
    static let socketPath: String? = {
        guard let value = getenv("NOTIFY_SOCKET") else { return nil }
        let path = String(cString: value)
        return path.isEmpty ? nil : path
    }()

    /// Sends `message` (e.g. "READY=1\nSTATUS=..."); false if it could not.
    @discardableResult
    static func send(_ message: String) -> Bool {
        guard let path = socketPath else { return false }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        var bytes = Array(path.utf8)
        if bytes.first == UInt8(ascii: "@") { bytes[0] = 0 }
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard (bytes.first == 0 ? bytes.count : bytes.count + 1) <= capacity,
              bytes.first == UInt8(ascii: "/") || bytes.first == 0 else { return false }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in bytes.enumerated() { raw[index] = byte }
        }
        // An abstract name's length counts exactly its bytes; a path's ends at its NUL.
        let length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count + (bytes.first == 0 ? 0 : 1))
        let descriptor = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        let sent = message.withCString { text in
            withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    sendto(descriptor, text, strlen(text), Int32(MSG_NOSIGNAL), $0, length)
                }
            }
        }
        return sent >= 0
    }

    /// Once the tree answers (its root lists and a file of it reads), says
    /// READY=1 with a STATUS= line naming the recorders. It runs on a thread
    /// of its own, as the tree is served only once the request loop runs.
    static func announceWhenAnswering(mountPoint: String, recorders: [String]) {
        guard socketPath != nil else { return }
        let task = Task(mountPoint: mountPoint, recorders: recorders)
        var thread = pthread_t()
        let context = Unmanaged.passRetained(task).toOpaque()
        if pthread_create(&thread, nil, { context in
            let task = Unmanaged<Task>.fromOpaque(context!).takeRetainedValue()
            task.run()
            return nil
        }, context) == 0 {
            pthread_detach(thread)
        } else {
            Unmanaged<Task>.fromOpaque(context).release()
        }
    }

    /// "STATUS=Serving 2 recorders (sr0 sr1) on /recorders".
    static func status(_ recorders: [String], _ mountPoint: String) -> String {
        let names = recorders.isEmpty ? "" : " (\(recorders.joined(separator: " ")))"
        return "STATUS=Serving \(recorders.count) recorder\(recorders.count == 1 ? "" : "s")\(names) on \(mountPoint)"
    }

    /// Tells systemd the daemon is stopping (after SIGTERM or SIGINT).
    static func stopping() {
        send("STOPPING=1\nSTATUS=Unmounting")
    }

    private final class Task {
        let mountPoint: String
        let recorders: [String]

        init(mountPoint: String, recorders: [String]) {
            self.mountPoint = mountPoint
            self.recorders = recorders
        }

        func run() {
            // At most about 60 s: systemd's own start timeout ends it sooner.
            for _ in 0..<6000 {
                if answers() {
                    send("READY=1\n\(ServiceNotify.status(recorders, mountPoint))\nMAINPID=\(getpid())")
                    return
                }
                usleep(10_000)
            }
        }

        /// A read through the mount: a recorder's `lockcount`, or the root
        /// listing when there is no recorder yet.
        private func answers() -> Bool {
            if let first = recorders.first {
                let descriptor = open("\(mountPoint)/\(first)/lockcount", O_RDONLY | O_CLOEXEC)
                guard descriptor >= 0 else { return false }
                defer { close(descriptor) }
                var buffer = [UInt8](repeating: 0, count: 32)
                return read(descriptor, &buffer, buffer.count) > 0
            }
            guard let directory = opendir(mountPoint) else { return false }
            defer { closedir(directory) }
            return readdir(directory) != nil
        }
    }
}

/// Under systemd: STATUS= follows the recorders as they come and go
/// (`systemctl status` shows the line).
final class ServiceStatus: RecorderObserver {
    let recorders: RecorderSet
    let mountPoint: String

    init(recorders: RecorderSet, mountPoint: String) {
        self.recorders = recorders
        self.mountPoint = mountPoint
    }

    func wants(_ kind: RecorderEvent.Kind) -> Bool { kind == .added || kind == .removed }

    func recorderChanged(_ event: RecorderEvent) {
        guard wants(event.kind) else { return }
        ServiceNotify.send(ServiceNotify.status(recorders.entries.map(\.recorder.name), mountPoint))
    }
}
