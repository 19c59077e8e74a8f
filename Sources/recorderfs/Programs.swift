#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import RecorderCore

/// Runs a program and waits for it; returns its exit status.
func runProgram(_ arguments: [String]) -> Int32 {
    let cArguments = arguments.map { strdup($0) } + [nil]
    defer { cArguments.forEach { free($0) } }
    return runProgram(rawArguments: cArguments)
}

/// Runs a program given as C strings (ending in nil), byte for byte, and
/// waits for it; returns its exit status.
func runProgram(rawArguments: [UnsafeMutablePointer<CChar>?]) -> Int32 {
    guard let program = rawArguments.first, let program else { return 127 }
    var pid = pid_t()
    guard posix_spawnp(&pid, program, nil, nil, rawArguments, environ) == 0 else { return 127 }
    return waitStatus(pid)
}

/// The raw arguments after the first `--` of the command line, exactly as
/// the process received them (CommandLine.arguments repairs bytes that are
/// not UTF-8), ending in nil.
func rawArgumentsAfterTerminator() -> [UnsafeMutablePointer<CChar>?] {
    let count = Int(CommandLine.argc)
    let argv = CommandLine.unsafeArgv
    guard let terminator = (1..<max(count, 1)).first(where: { argv[$0].map { strcmp($0, "--") == 0 } ?? false }) else {
        return [nil]
    }
    return (terminator + 1..<count).map { argv[$0] } + [nil]
}

/// The bytes of a C string.
func cStringBytes(_ string: UnsafePointer<CChar>) -> [UInt8] {
    Array(UnsafeBufferPointer(start: UnsafeRawPointer(string).assumingMemoryBound(to: UInt8.self), count: strlen(string)))
}

/// Waits for `pid` and returns its exit status as a shell reports it.
func waitStatus(_ pid: pid_t) -> Int32 {
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 {
        guard errno == EINTR else { return 1 }
    }
    let signal = status & 0x7f
    return signal == 0 ? (status >> 8) & 0xff : 128 + signal
}
