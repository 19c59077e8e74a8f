#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing

extension Mounted {
    /// `status --json` (schema version 1, README.md "status --json") and
    /// `status` of a recorder directory (issue G).
    @Suite("status --json and status of a recorder")
    struct StatusJSONTests {
        let binary = MountEnvironment.binary

        /// Every key of schema version 1, at the top and in a recorder and a holder.
        static let topKeys: Set<String> = ["version", "mountpoint", "claim", "timeout", "recorders"]
        static let recorderKeys: Set<String> = [
            "name", "device", "sg", "vendor", "model", "revision", "serial", "capabilities", "media", "volumes",
            "by-id", "owner", "lockcount", "generation", "holders",
            // Issue K.
            "state", "claiming-since", "waiting-for",
        ]
        static let holderKeys: Set<String> = ["name", "pid", "uid", "count", "since"]

        @Test("status --json is version 1 with every key, exact for a known state (--exclusive, --timeout 2.5, a holder)")
        func schema() throws {
            try withRecorder(["--exclusive", "--timeout", "2.5"]) { recorder in
                let base = try recorder.generationBase()
                let agent = try recorder.workspace.agent()
                _ = try agent.hold(recorder.path("acquire"), "Two  Spaces")
                let json = try run([binary, "status", recorder.mountPoint, "--json"]).check().stdout

                // The keys, whatever their order.
                let object = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any], "\(json)")
                #expect(Set(object.keys) == Self.topKeys, "\(json)")
                #expect(object["version"] as? Int == 1, "\(json)")
                let recorders = try #require(object["recorders"] as? [[String: Any]], "\(json)")
                #expect(recorders.count == 1 && Set(recorders[0].keys) == Self.recorderKeys, "\(json)")
                let holders = try #require(recorders.first?["holders"] as? [[String: Any]], "\(json)")
                #expect(holders.count == 1 && Set(holders[0].keys) == Self.holderKeys, "\(json)")

                // The exact line: keys sorted, "/" not escaped, null for unknown ids.
                let since = try #require(json.firstMatch(of: /"since":"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)"/)?.1, "\(json)")
                #expect(json == """
                    {"claim":"exclusive","mountpoint":"\(recorder.mountPoint)","recorders":[{"by-id":null,"capabilities":[],\
                    "claiming-since":null,"device":"\(recorder.device)","generation":\(base + 1),\
                    "holders":[{"count":1,"name":"Two  Spaces","pid":\(agent.pid),"since":"\(since)","uid":0}],"lockcount":1,\
                    "media":"","model":"","name":"sr0","owner":"Two  Spaces","revision":"","serial":"","sg":"","state":"locked",\
                    "vendor":"","volumes":[],"waiting-for":null}],"timeout":2.5,"version":1}

                    """)
                // `since` is the holders line's, to the second.
                let holdersFile = try recorder.cat("holders")
                #expect(holdersFile == "Two  Spaces pid=\(agent.pid) uid=0 count=1 since=\(since)\n")
            }
        }

        @Test("status --json lists a mounted volume of the drive in volumes")
        func volumes() throws {
            try withRecorder(volume: true) { recorder in
                let target = try recorder.workspace.directory("volume")
                try run(["mount", "-o", "ro", recorder.device, target]).check()
                defer { _ = try? run(["umount", target]) }
                let json = try run([binary, "status", recorder.mountPoint, "--json"]).check().stdout
                let object = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any], "\(json)")
                let recorders = try #require(object["recorders"] as? [[String: Any]], "\(json)")
                #expect(recorders.first?["volumes"] as? [String] == [target], "\(json)")
            }
        }

        @Test("status of a recorder directory shows that recorder only, as a table and as JSON")
        func recorderDirectory() throws {
            try withRecorder(["--virtual", "v1"]) { recorder in
                let whole = try run([binary, "status", recorder.mountPoint]).check()
                #expect(whole.stdout.split(separator: "\n").map { $0.split(separator: " ").first } == ["RECORDER", "sr0", "v1"],
                        "\(whole)")

                let one = try run([binary, "status", recorder.directory]).check()
                #expect(one.stdout.split(separator: "\n").map { $0.split(separator: " ").first } == ["RECORDER", "sr0"], "\(one)")
                // Any path that resolves to it: a trailing slash, `..`.
                let other = try run([binary, "status", "\(recorder.directory)/../v1/"]).check()
                #expect(other.stdout.split(separator: "\n").map { $0.split(separator: " ").first } == ["RECORDER", "v1"], "\(other)")

                let json = try run([binary, "status", recorder.directory, "--json"]).check().stdout
                let object = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any], "\(json)")
                #expect(object["mountpoint"] as? String == recorder.mountPoint, "\(json)")
                let recorders = try #require(object["recorders"] as? [[String: Any]], "\(json)")
                #expect(recorders.map { $0["name"] as? String } == ["sr0"], "\(json)")

                // by-id, the events file, a file of a recorder: not a recorder directory.
                for path in ["\(recorder.mountPoint)/by-id", "\(recorder.mountPoint)/events", recorder.path("owner")] {
                    let refused = try run([binary, "status", path])
                    expectOneSentence(refused)
                    #expect(refused.stderr == "recorderfs: \(path) is neither a recorderfs mount nor a recorder directory.\n",
                            "\(refused)")
                }
            }
        }
    }
}
