import CachetController
import CachetCrypto
import CachetDevCluster
import CachetKube
import CachetManifests
import Foundation
import Logging

/// `cachet-bench rotate`: online bulk re-encryption (`cachet reencrypt -f …` through the controller's `/v1/rotate`)
/// of N files of one SealedSecret of K values (RSA-4096), against a controller with its production limits (2 requests
/// a second per client; 16 RSA operations a second per client, bursts of 256). Before batching, each object was a
/// request of its own, so the request limit alone made N objects take N/2 seconds; now many objects share a request
/// and the operation budget is the bound: about max(0, N×K − 256)/16 seconds beyond the RSA work itself.
enum RotateBenchmark {
    static func run(_ arguments: [String]) async throws {
        var objects = 100, items = 1
        var clientOperations: Double?
        var keyPath = "keys.example/tls.key", certificatePath = "keys.example/tls.crt"
        var cachetPath = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("cachet").path
        var iterator = arguments.makeIterator()
        while let argument = iterator.next() {
            switch argument {
            case "--objects": objects = iterator.next().flatMap(Int.init) ?? objects
            case "--items": items = iterator.next().flatMap(Int.init) ?? items
            case "--key": keyPath = iterator.next() ?? keyPath
            case "--cert": certificatePath = iterator.next() ?? certificatePath
            case "--cachet": cachetPath = iterator.next() ?? cachetPath
            // The controller's --api-client-operations (and the total raised to match): what raising the budget buys.
            case "--client-operations": clientOperations = iterator.next().flatMap(Double.init)
            default:
                FileHandle.standardError.write(Data("usage: cachet-bench rotate [--objects N] [--items K] [--client-operations R] [--key PEM] [--cert PEM] [--cachet PATH]\n".utf8))
                exit(64)
            }
        }
        let key = try RSAPrivateKey(pem: try SecureBytes(copying: try Data(contentsOf: URL(fileURLWithPath: keyPath))))
        let certificatePEM = try String(contentsOf: URL(fileURLWithPath: certificatePath), encoding: .utf8)
        let sealer = Sealer(sealingKey: try SealingKey(pem: Array(certificatePEM.utf8)))

        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("cachet-bench-rotate-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var files: [String] = []
        for index in 0..<objects {
            var values: [String: SecureBytes] = [:]
            for item in 0..<items { values["item\(item)"] = try SecureBytes(copying: Array("value \(index) \(item)".utf8)) }
            let secret = SecretManifest(metadata: ObjectMeta(name: "app-\(index)", namespace: "bench"), items: values, type: nil, immutable: nil)
            let file = directory.appendingPathComponent("app-\(index).sealed.yaml")
            try Data(try ManifestFormat.yaml.write([try sealer.seal(secret).sealedSecret.manifestValue])).write(to: file)
            files.append(file.path)
        }

        // The production limits otherwise: rateLimit, rateLimitBurst, apiWork.
        func limits(_ settings: inout Controller.Settings) {
            guard let clientOperations else { return }
            settings.apiWork.clientOperationsPerSecond = clientOperations
            settings.apiWork.totalOperationsPerSecond = max(settings.apiWork.totalOperationsPerSecond, clientOperations)
        }
        let running = try await ControllerBenchmark.startController(key: key, certificatePEM: certificatePEM, workers: 2, configure: limits)
        var settings = Controller.Settings(namespace: "kube-system", workers: 2)
        limits(&settings)

        let process = Process()
        process.executableURL = URL(fileURLWithPath: cachetPath)
        process.arguments = ["reencrypt", "--controller-url", running.apiURL] + files.flatMap { ["-f", $0] }
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        let start = ContinuousClock.now
        try process.run()
        process.waitUntilExit()
        let elapsed = (ContinuousClock.now - start).seconds
        await running.stop()
        guard process.terminationStatus == 0 else {
            print("WARNING: cachet reencrypt exited with \(process.terminationStatus)")
            exit(1)
        }
        let operations = Double(objects * items)
        let budgetFloor = max(0, operations - settings.apiWork.clientOperationsBurst) / settings.apiWork.clientOperationsPerSecond
        print(String(format: "rotate: %d objects × %d values (RSA-4096) through /v1/rotate in %.2f s: %.1f objects/s", objects, items, elapsed, Double(objects) / elapsed))
        print(String(format: "one object per request at %.0f requests/s would take at least %.1f s; the client operation budget alone allows no less than %.1f s",
                     settings.rateLimit, Double(objects) / settings.rateLimit, budgetFloor))
        // The CLI posts 64 objects a request: the request limit bounds that too, once the budget is raised.
        let requests = (Double(objects) / 64).rounded(.up)
        print(String(format: "%.0f requests of 64 objects at %.0f requests/s (burst %.0f): no less than %.1f s",
                     requests, settings.rateLimit, settings.rateLimitBurst, max(0, requests - settings.rateLimitBurst) / settings.rateLimit))
    }
}
