#if canImport(Glibc)
import Glibc
#endif
import CLinux

/// A socket filter for the kernel's uevent socket that drops the change
/// uevents of some devices before they are queued: each release's re-probe
/// makes one for its recorder, and the hotplug thread would only read it to
/// drop it (`Discovery.isNothingNew`). Everything else passes.
///
/// A kernel uevent message begins `ACTION@DEVPATH\0`, e.g.
/// `change@/devices/virtual/block/loop0\0ACTION=change\0…`: the filter
/// compares the bytes from offset 7 with each devpath and its NUL. (A
/// classic BPF program: loads are big-endian, a load past the end of the
/// message would drop it, so the length is checked first.)
enum ChangeFilter {
    private static let accept: UInt32 = 0xFFFF_FFFF
    private static let drop: UInt32 = 0
    /// Where the devpath begins in a change message.
    private static let devpathOffset = 7
    /// The longest program made: the kernel takes 4,096 instructions, but
    /// charges a filter to the socket's option memory (`net.core.optmem_max`,
    /// 20 KiB on older kernels), which a long one overruns. 1,024
    /// instructions hold the devpaths of some 24 SCSI drives or 50 loop
    /// devices.
    static let maximumLength = 1024

    /// The program; a devpath that would need a jump of more than 255
    /// instructions, or would make the program longer than `maximumLength`,
    /// is left out (its messages pass, and the thread drops them).
    static func program(dropping devpaths: [String]) -> [sock_filter] {
        var program: [sock_filter] = [
            // At least "change@/", else accept.
            instruction(RFS_BPF_LD_LEN, 0),
            instruction(RFS_BPF_JGE, 8, 1, 0),
            instruction(RFS_BPF_RET, accept),
            instruction(RFS_BPF_LD_WORD, 0),
            instruction(RFS_BPF_JEQ, word(Array("chan".utf8)), 1, 0),
            instruction(RFS_BPF_RET, accept),
            instruction(RFS_BPF_LD_WORD, 4),
            instruction(RFS_BPF_JEQ, word(Array("ge@/".utf8)), 1, 0),
            instruction(RFS_BPF_RET, accept),
        ]
        for devpath in devpaths {
            let block = Self.block(Array(devpath.utf8) + [0])
            guard block.count <= 256, program.count + block.count + 1 <= maximumLength else { continue }
            program += block
        }
        program.append(instruction(RFS_BPF_RET, accept))
        return program
    }

    /// Drops a message that is long enough and has `bytes` at the devpath's
    /// offset; a mismatch jumps past the block, to the next devpath.
    private static func block(_ bytes: [UInt8]) -> [sock_filter] {
        // (load, compare) pairs, then the drop; each compare's false branch
        // is patched to the end of the block once its length is known.
        var block: [sock_filter] = [instruction(RFS_BPF_LD_LEN, 0),
                                    instruction(RFS_BPF_JGE, UInt32(devpathOffset + bytes.count))]
        var at = 0
        while at < bytes.count {
            let width = bytes.count - at >= 4 ? 4 : bytes.count - at >= 2 ? 2 : 1
            let load = width == 4 ? RFS_BPF_LD_WORD : width == 2 ? RFS_BPF_LD_HALF : RFS_BPF_LD_BYTE
            block.append(instruction(load, UInt32(devpathOffset + at)))
            block.append(instruction(RFS_BPF_JEQ, word(Array(bytes[at..<at + width]))))
            at += width
        }
        block.append(instruction(RFS_BPF_RET, drop))
        for index in block.indices where block[index].code == RFS_BPF_JEQ || block[index].code == RFS_BPF_JGE {
            block[index].jf = UInt8(clamping: block.count - index - 1)
        }
        return block
    }

    /// Up to four bytes as a big-endian number, as the loads see them.
    private static func word(_ bytes: [UInt8]) -> UInt32 {
        bytes.reduce(0) { $0 << 8 | UInt32($1) }
    }

    private static func instruction(_ code: UInt16, _ k: UInt32, _ jt: UInt8 = 0, _ jf: UInt8 = 0) -> sock_filter {
        sock_filter(code: code, jt: jt, jf: jf, k: k)
    }

    /// Attaches the program that drops the changes of `devpaths` to the
    /// socket, or of as many of the first of them as the kernel takes (it
    /// charges the program, translated, to the socket's option memory, which
    /// older kernels keep at 20 KiB). False when it takes none: the socket
    /// is then left without a filter.
    static func attach(dropping devpaths: [String], to socket: Int32) -> Bool {
        var count = devpaths.count
        while true {
            if attach(program(dropping: Array(devpaths.prefix(count))), to: socket) { return true }
            guard count > 0 else { break }
            count /= 2
        }
        var none: Int32 = 0
        _ = setsockopt(socket, SOL_SOCKET, SO_DETACH_FILTER, &none, socklen_t(MemoryLayout<Int32>.size))
        return false
    }

    /// Attaches `program` to the socket; false when the kernel refuses it.
    static func attach(_ program: [sock_filter], to socket: Int32) -> Bool {
        var program = program
        return program.withUnsafeMutableBufferPointer { instructions -> Bool in
            var filter = sock_fprog(len: UInt16(instructions.count), filter: instructions.baseAddress)
            return setsockopt(socket, SOL_SOCKET, SO_ATTACH_FILTER, &filter, socklen_t(MemoryLayout<sock_fprog>.size)) == 0
        }
    }
}
