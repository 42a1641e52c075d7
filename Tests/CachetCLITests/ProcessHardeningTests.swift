import CachetTestSupport
import Foundation
import Testing

/// `cachet` makes itself non-dumpable: no core dumps, no same-uid ptrace or /proc/PID/mem reads of its secrets.
/// Visible from outside as /proc/PID/status belonging to root instead of the process's user, so the test runs
/// `cachet` as `nobody` (needs root and util-linux's setpriv, both present in CI).
@Suite(.enabled(if: getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv"),
                "needs root and /usr/bin/setpriv to run cachet as another user"))
struct ProcessHardeningTests {
    @Test func cachetIsNotDumpable() throws {
        let certificate = Repository.root.appendingPathComponent("keys.example/tls.crt").path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
        process.arguments = ["--reuid=65534", "--regid=65534", "--clear-groups", CachetProcess.executable.path,
                             "seal", "--raw", "--cert", certificate, "--scope", "cluster-wide"]
        let input = Pipe()
        process.standardInput = input
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        defer {
            try? input.fileHandleForWriting.close()
            process.waitUntilExit()
        }
        // setpriv execs cachet in the same process; wait until it has, while cachet blocks reading stdin.
        let proc = "/proc/\(process.processIdentifier)"
        var command = ""
        for _ in 0..<200 where command != "cachet" {
            command = (try? String(contentsOfFile: proc + "/comm", encoding: .utf8))?
                .trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
            if command != "cachet" { usleep(10_000) }
        }
        try #require(command == "cachet")
        // cachet hardens itself first thing in main, a moment after the exec: poll briefly.
        var owner: Int?
        for _ in 0..<200 where owner != 0 {
            owner = try FileManager.default.attributesOfItem(atPath: proc + "/status")[.ownerAccountID] as? Int
            if owner != 0 { usleep(10_000) }
        }
        #expect(owner == 0, "a dumpable process's /proc files belong to its own user (65534)")
        let limits = try String(contentsOfFile: proc + "/limits", encoding: .utf8)
        #expect(limits.split(separator: "\n").contains { line in
            line.hasPrefix("Max core file size") && line.split(separator: " ", omittingEmptySubsequences: true).dropFirst(4).first == "0"
        })
    }
}
