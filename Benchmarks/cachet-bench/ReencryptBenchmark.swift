import CachetCrypto
import CachetManifests
import Dispatch
import Foundation

/// `cachet-bench reencrypt`: offline bulk re-encryption (`cachet reencrypt --key KEY PATH`) of N files of K values
/// (RSA-4096, the fixture key) to a new certificate named by a `.cachet.yaml` rule: values a second against the bare
/// OpenSSL RSA-4096 private-operation rate on all cores (target: ≥ 0.9). Sealing again costs public-key operations
/// only; opening is the work.
enum ReencryptBenchmark {
    static func run(_ arguments: [String]) throws {
        var files = 1000, items = 3
        var keyPath = "keys.example/tls.key", certificatePath = "keys.example/tls.crt"
        var cachetPath = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("cachet").path
        var iterator = arguments.makeIterator()
        while let argument = iterator.next() {
            switch argument {
            case "--files": files = iterator.next().flatMap(Int.init) ?? files
            case "--items": items = iterator.next().flatMap(Int.init) ?? items
            case "--key": keyPath = iterator.next() ?? keyPath
            case "--cert": certificatePath = iterator.next() ?? certificatePath
            case "--cachet": cachetPath = iterator.next() ?? cachetPath
            default:
                FileHandle.standardError.write(Data("usage: cachet-bench reencrypt [--files N] [--items K] [--key PEM] [--cert PEM] [--cachet PATH]\n".utf8))
                exit(64)
            }
        }
        let key = try RSAPrivateKey(pem: try SecureBytes(copying: try Data(contentsOf: URL(fileURLWithPath: keyPath))))
        let sealingKey = try SealingKey(pem: Array(try Data(contentsOf: URL(fileURLWithPath: certificatePath))))
        let cores = ProcessInfo.processInfo.activeProcessorCount

        // The repository: the files sealed to the fixture key, and a rule sealing to a new key (RSA-2048: the new
        // target's size changes only the cheap public-key side).
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("cachet-bench-reencrypt-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        try FileManager.default.createDirectory(at: directory.appendingPathComponent("apps"), withIntermediateDirectories: true)
        let newKey = try RSAPrivateKey.generate(bits: 2048)
        let newCertificate = try Certificate.selfSigned(for: newKey, commonName: "cachet-bench", validity: 86_400)
        try Data(try newCertificate.pem.utf8).write(to: directory.appendingPathComponent("new.crt"))
        try Data("rules:\n  - path: \"**\"\n    cert: new.crt\n".utf8).write(to: directory.appendingPathComponent(".cachet.yaml"))
        let sealer = Sealer(sealingKey: sealingKey)
        for index in 0..<files {
            var values: [String: SecureBytes] = [:]
            for item in 0..<items { values["item\(item)"] = try SecureBytes(copying: Array("value \(index) \(item)".utf8)) }
            let secret = SecretManifest(metadata: ObjectMeta(name: "app-\(index)", namespace: "bench"), items: values, type: nil, immutable: nil)
            let bytes = try ManifestFormat.yaml.write([try sealer.seal(secret).sealedSecret.manifestValue])
            try Data(bytes).write(to: directory.appendingPathComponent("apps/app-\(index).sealed.yaml"))
        }

        let bareBefore = try ControllerBenchmark.bareRate(key: key, cores: cores)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: cachetPath)
        process.arguments = ["reencrypt", "--key", keyPath, directory.appendingPathComponent("apps").path]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        let start = ContinuousClock.now
        try process.run()
        process.waitUntilExit()
        let elapsed = (ContinuousClock.now - start).seconds
        let bareAfter = try ControllerBenchmark.bareRate(key: key, cores: cores)
        guard process.terminationStatus == 0 else {
            print("WARNING: cachet reencrypt exited with \(process.terminationStatus)")
            exit(1)
        }
        let values = Double(files * items), bare = max(bareBefore, bareAfter)
        print(String(format: "reencrypt: %d files × %d values (RSA-4096) in %.2f s: %.0f values/s", files, items, elapsed, values / elapsed))
        print(String(format: "bare OpenSSL RSA-%d OAEP decrypt on %d cores: %.1f ops/s (before %.1f, after %.1f)", key.bits, cores, bare, bareBefore, bareAfter))
        print(String(format: "reencrypt rate / bare rate: %.2f (target ≥ 0.9)", values / elapsed / bare))
    }
}
