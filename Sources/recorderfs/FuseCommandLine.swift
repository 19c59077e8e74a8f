#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser

/// The FUSE convention of mount(8) and mount.fuse3:
/// `recorderfs SOURCE MOUNTPOINT [-f] [-d] -o OPTION[,OPTION...]`, rewritten
/// into `recorderfs mount MOUNTPOINT --long-flags...` before the parser sees
/// it (docs/operations.md, "fstab and mount units").
///
/// Options are named after the long flags of `mount`; the generic options
/// mount(8) passes to every file system are accepted and ignored (as
/// mount.fuse3 does), except `ro`: the control files are written to. As a
/// FUSE file system does, it goes to the background once mounted (mount(8)
/// waits for it), unless `-f` (foreground).
enum FuseCommandLine {
    /// The first arguments that mean the ordinary command line. An array:
    /// a Set's metadata would be made at every start (docs/operations.md,
    /// "Start-up").
    static let subcommands = ["mount", "status", "hold", "wait", "unmount", "help"]

    /// When the arguments follow the FUSE convention, runs this program
    /// again with the ordinary ones (the arguments the parser reads cannot
    /// be replaced in place); a wrong option is one sentence on stderr and
    /// exit status 64 (as other usage errors).
    static func rewriteArguments() {
        let arguments = CommandLine.arguments
        let rewritten: [String]
        do {
            guard let ordinary = try rewrite(Array(arguments.dropFirst())) else { return }
            rewritten = [arguments.first ?? "recorderfs"] + ordinary
        } catch {
            printError("recorderfs: \(error)")
            exit(ExitCode.validationFailure.rawValue)
        }
        let executable = resolvedPath("/proc/self/exe") ?? "/proc/self/exe"
        var cArguments = rewritten.map { strdup($0) } + [nil]
        execv(executable, &cArguments)
        printError("recorderfs: cannot run \(executable): \(errorText(errno)).")
        exit(1)
    }

    struct UsageError: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }

    /// The ordinary arguments for `arguments` (without the program name),
    /// or nil when they are not in the FUSE form (a subcommand, an option
    /// first, or not two operands).
    static func rewrite(_ arguments: [String]) throws -> [String]? {
        guard let first = arguments.first, !subcommands.contains(first), !first.hasPrefix("-") else { return nil }
        var operands: [String] = []
        var options: [String] = []
        var foreground = false
        var debug = false
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            index += 1
            switch argument {
            case "-o":
                guard index < arguments.count else { throw UsageError("-o needs a list of mount options.") }
                options += arguments[index].split(separator: ",", omittingEmptySubsequences: true).map(String.init)
                index += 1
            case _ where argument.hasPrefix("-o"):
                options += argument.dropFirst(2).split(separator: ",").map(String.init)
            case "-f":
                foreground = true
            case "-d":
                foreground = true
                debug = true
            case "-s":
                continue  // single-threaded: the request loop has its own threads
            case "--":
                operands += arguments[index...]
                index = arguments.count
            default:
                guard !argument.hasPrefix("-") else {
                    throw UsageError("unknown option '\(argument)' in the mount(8) form (SOURCE MOUNTPOINT -o OPTIONS).")
                }
                operands.append(argument)
            }
        }
        // `recorderfs MOUNTPOINT -o ...` alone is the form of the unit's
        // ExecStart too: a SOURCE is optional.
        guard operands.count == 2 || (operands.count == 1 && !options.isEmpty) else { return nil }
        var result = ["mount", operands.last!]
        for option in options {
            result += try flags(for: option)
        }
        if debug { result.append("--debug") }
        if !foreground { result.append("--daemon") }
        return result
    }

    /// Generic options of mount(8) and mount.fuse3 with no meaning here.
    static let ignored: Set<String> = [
        "rw", "defaults", "dev", "nodev", "suid", "nosuid", "exec", "noexec", "atime", "noatime",
        "diratime", "nodiratime", "relatime", "norelatime", "strictatime", "nostrictatime",
        "lazytime", "nolazytime", "sync", "async", "dirsync", "mand", "nomand", "silent", "loud",
        "auto", "noauto", "user", "nouser", "users", "owner", "group", "_netdev", "nofail",
        "default_permissions", "nonempty",
    ]

    /// The long flags of `mount` for one option of `-o`.
    static func flags(for option: String) throws -> [String] {
        let key: Substring
        let value: Substring?
        if let equals = option.firstIndex(of: "=") {
            key = option[..<equals]
            value = option[option.index(after: equals)...]
        } else {
            key = option[...]
            value = nil
        }
        func needed() throws -> String {
            guard let value, !value.isEmpty else { throw UsageError("the mount option '\(key)' needs a value (\(key)=...).") }
            return String(value)
        }
        func none() throws {
            guard value == nil else { throw UsageError("the mount option '\(key)' takes no value.") }
        }
        switch key {
        case "allow_other": try none(); return ["--allow-other"]
        case "no_discover": try none(); return ["--no-discover"]
        case "exclusive": try none(); return ["--exclusive"]
        case "debug": try none(); return ["--debug"]
        case "no_quiet": try none(); return ["--no-quiet"]
        case "inhibit_sleep": try none(); return ["--inhibit-sleep"]
        case "timeout": return ["--timeout", try needed()]
        case "match": return ["--match", try needed()]
        case "virtual": return ["--virtual", try needed()]
        case "log_level": return ["--log-level", try needed()]
        case "device":
            // device=NAME:PATH[:SGPATH] (':' because '=' already separates
            // the key, and ',' the options); NAME=PATH as on the command
            // line is taken too.
            let spec = try needed()
            guard let separator = spec.firstIndex(where: { $0 == ":" || $0 == "=" }) else {
                throw UsageError("the mount option 'device' takes NAME:PATH[:SGPATH], e.g. device=sr0:/dev/sr0:/dev/sg0.")
            }
            var path = spec[spec.index(after: separator)...]
            var generic = ""
            if let last = path.lastRange(ofBytes: ":/") {
                generic = ",sg=" + path[path.index(after: last.lowerBound)...]
                path = path[..<last.lowerBound]
            }
            return ["--device", spec[..<separator] + "=" + path + generic]
        case "ro":
            throw UsageError("the tree cannot be mounted read-only (option 'ro'): its control files are written to.")
        default:
            if ignored.contains(String(key)) || key.hasPrefix("x-") || key.hasPrefix("comment=")
                || key == "comment" || key == "fsname" || key == "subtype" {
                return []
            }
            throw UsageError("unknown mount option '\(key)'.")
        }
    }
}
