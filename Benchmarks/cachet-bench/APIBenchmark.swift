import CachetCrypto
import CachetController
import CachetDevCluster
import CachetKube
import CachetManifests
import CachetTransport
import Foundation
import Logging
import Synchronization

/// `cachet-bench api`: what a flood of `/v1/verify` requests (each a SealedSecret of `--items` RSA-4096 values, from
/// `--clients` addresses) costs everyone else: `/healthz` latency and the time a new SealedSecret takes to become its
/// Secret, quiet and under the flood, and the RSA operations the flood obtained against the budget (64 a second,
/// bursts of 512, for all clients together). The controller and the dev API server run in this process, the flooding
/// clients on threads of their own.
enum APIBenchmark {
    static func run(_ arguments: [String]) async throws {
        var clients = 4, items = 200, seconds = 10.0
        var keyPath = "keys.example/tls.key", certificatePath = "keys.example/tls.crt"
        var iterator = arguments.makeIterator()
        while let argument = iterator.next() {
            switch argument {
            case "--clients": clients = iterator.next().flatMap(Int.init) ?? clients
            case "--items": items = iterator.next().flatMap(Int.init) ?? items
            case "--seconds": seconds = iterator.next().flatMap(Double.init) ?? seconds
            case "--key": keyPath = iterator.next() ?? keyPath
            case "--cert": certificatePath = iterator.next() ?? certificatePath
            default:
                FileHandle.standardError.write(Data("usage: cachet-bench api [--clients N] [--items K] [--seconds S] [--key PEM] [--cert PEM]\n".utf8))
                exit(64)
            }
        }
        let key = try RSAPrivateKey(pem: try SecureBytes(copying: try Data(contentsOf: URL(fileURLWithPath: keyPath))))
        let certificatePEM = try String(contentsOf: URL(fileURLWithPath: certificatePath), encoding: .utf8)
        let sealer = Sealer(sealingKey: try SealingKey(pem: Array(certificatePEM.utf8)))

        let running = try await ControllerBenchmark.startController(key: key, certificatePEM: certificatePEM, workers: 4)
        let client = running.client
        let api = running.apiURL, metrics = running.metricsURL

        func seal(_ name: String, items: Int) throws -> ManifestValue {
            var values: [String: SecureBytes] = [:]
            for item in 0..<items { values["k\(item)"] = try SecureBytes(copying: Array("v\(item)".utf8)) }
            return try sealer.seal(SecretManifest(metadata: ObjectMeta(name: name, namespace: "bench"), items: values, type: nil, immutable: nil))
                .sealedSecret.manifestValue
        }
        let body = try seal("flood", items: items).jsonBytes

        /// /healthz latencies (ms) over `duration`, and the time (s) one new SealedSecret took to become its Secret.
        func probe(_ label: String, duration: Double) async throws -> (latencies: [Double], reconcile: Double) {
            let name = "probe-\(label)"
            let created = ContinuousClock.now
            _ = try await client.create(.sealedSecrets, try seal(name, items: 3), namespace: "bench")
            var reconcile = Double.nan
            var latencies: [Double] = []
            let end = ContinuousClock.now + .milliseconds(Int(duration * 1000))
            while ContinuousClock.now < end || reconcile.isNaN {
                let start = ContinuousClock.now
                _ = try await blocking(BlockingHTTP.Request(url: api + "/healthz"))
                latencies.append((ContinuousClock.now - start).seconds * 1000)
                if reconcile.isNaN, (try? await client.get(.secrets, name: name, namespace: "bench")) != nil {
                    reconcile = (ContinuousClock.now - created).seconds
                }
                try await Task.sleep(for: .milliseconds(20))
                if ContinuousClock.now - created > .seconds(120) { break }
            }
            return (latencies, reconcile)
        }
        func operations() async throws -> Int {
            let text = String(decoding: try await blocking(BlockingHTTP.Request(url: metrics + "/metrics")).body, as: UTF8.self)
            return text.split(separator: "\n").filter { $0.hasPrefix("cachet_http_rsa_operations_total{") }
                .compactMap { $0.split(separator: " ").last.flatMap { Int($0) } }.reduce(0, +)
        }
        func summary(_ label: String, _ result: (latencies: [Double], reconcile: Double)) {
            let sorted = result.latencies.sorted()
            func percentile(_ p: Double) -> Double { sorted.isEmpty ? .nan : sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))] }
            print(String(format: "%@ /healthz p50 %.1f ms, p99 %.1f ms, max %.1f ms (%d probes); a new SealedSecret became its Secret in %.2f s",
                         label.padding(toLength: 7, withPad: " ", startingAt: 0), percentile(0.5), percentile(0.99), sorted.last ?? .nan,
                         sorted.count, result.reconcile))
        }

        summary("quiet", try await probe("quiet", duration: 3))

        let stop = Atomic<Bool>(false)
        let statuses = Mutex<[Int: Int]>([:])
        let operationsBefore = try await operations()
        let floodStart = ContinuousClock.now
        let threads = (0..<clients).map { index in
            Thread {
                while !stop.load(ordering: .relaxed) {
                    let status = (try? BlockingHTTP.send(BlockingHTTP.Request(method: "POST", url: api + "/v1/verify",
                                                                             headers: [("X-Forwarded-For", "198.51.100.\(index)")], body: body)))?.status ?? -1
                    statuses.withLock { $0[status, default: 0] += 1 }
                    if status == 429 { usleep(20_000) }  // as fast as a client that honours nothing would, almost
                }
            }
        }
        threads.forEach { $0.start() }
        let flooded = try await probe("flood", duration: seconds)
        stop.store(true, ordering: .relaxed)
        let elapsed = (ContinuousClock.now - floodStart).seconds
        let performed = try await operations() - operationsBefore
        summary("flood", flooded)
        let answered = statuses.withLock { $0 }.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", ")
        let limits = APIWorkLimits()
        print(String(format: "flood: %d clients × %d-item bodies for %.1f s: %d RSA operations (%.1f/s; budget %.0f/s + burst %.0f) — answers %@",
                     clients, items, elapsed, performed, Double(performed) / elapsed, limits.totalOperationsPerSecond,
                     limits.totalOperationsBurst, answered))
        try await Task.sleep(for: .seconds(1))
        await running.stop()
    }

    static func blocking(_ request: BlockingHTTP.Request) async throws -> BlockingHTTP.Response {
        try await withCheckedThrowingContinuation { continuation in
            Thread { continuation.resume(with: Result { try BlockingHTTP.send(request, timeoutSeconds: 60) }) }.start()
        }
    }
}
