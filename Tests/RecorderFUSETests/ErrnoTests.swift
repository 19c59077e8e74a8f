#if canImport(Glibc)
import Glibc
#endif
import RecorderCore
@testable import RecorderFUSE
import Testing

/// The errno table of docs/design.md §5: every error of the core maps to
/// exactly the errno the table lists.
@Suite("Errno table")
struct ErrnoTests {
    /// One of each case, with the errno of §5.
    static let table: [(RecorderError, Int32)] = [
        (.invalidName("empty"), EINVAL),
        (.busy("held by AppA"), EBUSY),
        (.notPermitted, EPERM),
        (.noLock, ENOLCK),
        (.timedOut, ETIMEDOUT),
        (.noDevice, ENODEV),
        (.badHandle, EBADF),
        (.outOfMemory, ENOMEM),
        (.io("medium error"), EIO),
        (.unsupported, EOPNOTSUPP),
        (.tooManyHandles(1024), EMFILE),
        (.tooManyLocks(65_536), ENOLCK),
        (.interrupted, EINTR),
    ]

    /// Which case an error is; the switch does not compile when a case is
    /// added, so the table above must grow with the enum.
    static func caseNumber(_ error: RecorderError) -> Int {
        switch error {
        case .invalidName: 0
        case .busy: 1
        case .notPermitted: 2
        case .noLock: 3
        case .timedOut: 4
        case .noDevice: 5
        case .badHandle: 6
        case .outOfMemory: 7
        case .io: 8
        case .unsupported: 9
        case .tooManyHandles: 10
        case .tooManyLocks: 11
        case .interrupted: 12
        }
    }

    @Test func theTableHasEveryCase() {
        #expect(Set(Self.table.map { Self.caseNumber($0.0) }) == Set(0...12))
        #expect(Self.table.count == 13)
    }

    @Test(arguments: table.indices)
    func eachCaseHasItsErrno(index: Int) {
        let (error, errno) = Self.table[index]
        #expect(error.errno == errno, "\(error)")
    }

    /// The explanation never changes the errno.
    @Test func theExplanationDoesNotMatter() {
        #expect(RecorderError.busy("").errno == EBUSY)
        #expect(RecorderError.busy("a volume is mounted").errno == EBUSY)
        #expect(RecorderError.invalidName("too long").errno == EINVAL)
        #expect(RecorderError.io("").errno == EIO)
        #expect(RecorderError.tooManyHandles(1).errno == EMFILE)
        #expect(RecorderError.tooManyLocks(1).errno == ENOLCK)
    }
}
