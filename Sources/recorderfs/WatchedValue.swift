#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import RecorderCore

/// Reads a small file of the tree; nil when it cannot be read.
func readValue(_ path: String) -> String? {
    let descriptor = open(path, O_RDONLY | O_CLOEXEC)
    guard descriptor >= 0 else { return nil }
    defer { close(descriptor) }
    var result: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
        let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
        if count < 0 && errno == EINTR { continue }
        guard count >= 0 else { return nil }
        if count == 0 { break }
        result.append(contentsOf: buffer[0..<count])
    }
    return String(decoding: result, as: UTF8.self)
}

/// Reads a value file of the tree again from its start through an open
/// handle (as sysfs is read after a poll); nil when it cannot be read.
func readAgain(_ descriptor: Int32) -> String? {
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
        let count = buffer.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, $0.count, 0) }
        if count < 0 && errno == EINTR { continue }
        guard count >= 0 else { return nil }
        return String(decoding: buffer[0..<count], as: UTF8.self)
    }
}

/// Seconds on the monotonic clock.
func monotonicSeconds() -> Double {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
}

/// The time left until `deadline` in milliseconds, rounded up, as poll(2)
/// takes it: -1 (no limit) without a deadline, 0 once it has passed.
func millisecondsLeft(until deadline: Double?) -> Int32 {
    guard let deadline else { return -1 }
    let left = deadline - monotonicSeconds()
    return left <= 0 ? 0 : Int32(min((left * 1000).rounded(.up), Double(Int32.max)))
}

/// Waits, at most until `deadline`, for a change of the value file open as
/// `descriptor` since its last read (POLLPRI, sysfs style). False once the
/// deadline has passed.
func waitForChange(_ descriptor: Int32, until deadline: Double?) throws -> Bool {
    while true {
        let timeout = millisecondsLeft(until: deadline)
        if timeout == 0 { return false }
        var entry = pollfd(fd: descriptor, events: Int16(POLLPRI), revents: 0)
        let ready = Glibc.poll(&entry, 1, timeout)
        if ready < 0 {
            if errno == EINTR { continue }
            throw Failure("cannot poll: \(errorText(errno)).")
        }
        if ready > 0 { return true }
    }
}
