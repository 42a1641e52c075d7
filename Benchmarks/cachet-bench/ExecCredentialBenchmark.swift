import CachetKubeConfig
import CachetManifests
import Foundation

/// `cachet-bench exec-credential`: what a kubeconfig exec plugin costs Cachet. A plugin that prints a fixed
/// ExecCredential (a shell script: the floor of any real plugin, whose own work — `aws eks get-token` takes about half
/// a second — comes on top), run N times through `ExecCredentialSource` (Subprocess, the JSON read and checked);
/// beside it, the same script run bare through `/bin/sh`, and the cost of a cached credential per request.
enum ExecCredentialBenchmark {
    static func run(_ arguments: [String]) async throws {
        var runs = 50
        var iterator = arguments.makeIterator()
        while let argument = iterator.next() {
            switch argument {
            case "--runs": runs = iterator.next().flatMap(Int.init) ?? runs
            default:
                FileHandle.standardError.write(Data("usage: cachet-bench exec-credential [--runs N]\n".utf8))
                exit(64)
            }
        }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("cachet-bench-exec-\(getpid())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let script = directory.appendingPathComponent("plugin")
        try """
            #!/bin/sh
            echo '{"apiVersion":"client.authentication.k8s.io/v1beta1","kind":"ExecCredential","status":{"token":"bench-token"}}'
            """.write(to: script, atomically: true, encoding: .utf8)
        chmod(script.path, 0o755)
        let exec = try ManifestValue(json: Array(#"{"apiVersion":"client.authentication.k8s.io/v1beta1","command":"\#(script.path)"}"#.utf8))
        let plugin = try ExecPlugin(exec, userName: "bench", directory: directory.path, where: "bench")

        // Each run a fresh source: nothing cached, the plugin runs every time.
        var pluginTimes: [Double] = []
        for _ in 0..<runs {
            let source = ExecCredentialSource(plugin)
            let start = ContinuousClock.now
            _ = try await source.credential()
            pluginTimes.append((ContinuousClock.now - start).seconds * 1000)
        }
        var bareTimes: [Double] = []
        for _ in 0..<runs {
            let process = Process()
            process.executableURL = script
            process.standardOutput = FileHandle.nullDevice
            let start = ContinuousClock.now
            try process.run()
            process.waitUntilExit()
            bareTimes.append((ContinuousClock.now - start).seconds * 1000)
        }
        let cached = ExecCredentialSource(plugin)
        _ = try await cached.credential()
        let lookups = 100_000
        let start = ContinuousClock.now
        for _ in 0..<lookups { _ = try await cached.credential() }
        let perLookup = (ContinuousClock.now - start).seconds / Double(lookups) * 1e6
        func summary(_ values: [Double]) -> String {
            let sorted = values.sorted()
            return String(format: "median %.2f ms (min %.2f, max %.2f)", sorted[sorted.count / 2], sorted.first ?? 0, sorted.last ?? 0)
        }
        print("exec plugin through ExecCredentialSource, \(runs) runs: \(summary(pluginTimes))")
        print("the same script started bare (Foundation Process), \(runs) runs: \(summary(bareTimes))")
        print(String(format: "a cached credential: %.2f µs per request", perLookup))
    }
}
