import CachetController
import CachetCrypto
import CachetDevCluster
import CachetKube
import CachetManifests
import Dispatch
import Foundation
import Logging

/// `cachet-bench controller`: a cold start of `cachet-controller run` against the dev API server holding N
/// SealedSecrets of K values each (RSA-4096): seconds from the controller's launch until every Secret exists, and
/// the controller process's peak RSS, next to the bare OpenSSL RSA-4096 private-operation rate on all cores
/// measured in the same run (the floor: N×K operations at that rate).
///
/// The dev API server runs in this process, so it shares the machine's cores with the controller, as a real
/// control plane on the same node would; its cost is part of the figure.
enum ControllerBenchmark {
    static func run(_ arguments: [String]) async throws {
        var objects = 1000, items = 3, workers: Int?, formatV2 = false, unrelated = 0
        var keyPath = "keys.example/tls.key", certificatePath = "keys.example/tls.crt"
        var controllerPath = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
            .appendingPathComponent("cachet-controller").path
        var iterator = arguments.makeIterator()
        while let argument = iterator.next() {
            switch argument {
            case "--objects": objects = iterator.next().flatMap(Int.init) ?? objects
            case "--items": items = iterator.next().flatMap(Int.init) ?? items
            case "--workers": workers = iterator.next().flatMap(Int.init)
            case "--key": keyPath = iterator.next() ?? keyPath
            case "--cert": certificatePath = iterator.next() ?? certificatePath
            case "--controller": controllerPath = iterator.next() ?? controllerPath
            case "--v2": formatV2 = true
            // Secrets the controller has nothing to do with (in another namespace): its memory must not grow with them.
            case "--unrelated-secrets": unrelated = iterator.next().flatMap(Int.init) ?? unrelated
            default:
                FileHandle.standardError.write(Data(
                    "usage: cachet-bench controller [--objects N] [--items K] [--workers W] [--key PEM] [--cert PEM] [--controller PATH] [--v2] [--unrelated-secrets N]\n".utf8))
                exit(64)
            }
        }
        let key = try RSAPrivateKey(pem: try SecureBytes(copying: try Data(contentsOf: URL(fileURLWithPath: keyPath))))
        let certificatePEM = try String(contentsOf: URL(fileURLWithPath: certificatePath), encoding: .utf8)
        let sealingKey = try SealingKey(pem: Array(certificatePEM.utf8))
        let cores = ProcessInfo.processInfo.activeProcessorCount

        let bareBefore = try bareRate(key: key, cores: cores)

        // The cluster: the key as a Bitnami key Secret, a namespace, and the SealedSecrets.
        var settings = DevCluster.Settings()
        settings.historyLimit = max(10_000, objects * 8)
        let cluster = await DevCluster(settings: settings)
        try await cluster.start()
        let client = try KubeClient(config: cluster.clientConfig())
        // --v2: the key Secret also holds an age identity, and every value is v2 to three recipients (the cluster's
        // first, as `cachet seal --v2` writes them, then two it does not hold: another cluster, an offline key).
        let identity = formatV2 ? try AgeIdentity.generate() : nil
        try await ControllerBenchmark.installKeyAndNamespace(client: client, key: key, certificatePEM: certificatePEM, ageIdentity: identity)
        let sealer = try identity.map { identity in
            Sealer(target: .recipients([identity.recipient] + (try (0..<2).map { _ in try AgeIdentity.generate().recipient })))
        } ?? Sealer(sealingKey: sealingKey)
        let sealedObjects = try (0..<objects).map { index -> ManifestValue in
            var values: [String: SecureBytes] = [:]
            for item in 0..<items { values["value-\(item)"] = try SecureBytes(copying: Array("secret-\(index)-\(item)".utf8)) }
            let secret = SecretManifest(metadata: ObjectMeta(name: "app-\(index)", namespace: "bench"), items: values, type: "Opaque", immutable: nil)
            return try sealer.seal(secret).sealedSecret.manifestValue
        }
        let loadStart = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for lane in 0..<8 {
                group.addTask {
                    for index in stride(from: lane, to: sealedObjects.count, by: 8) {
                        _ = try await client.create(.sealedSecrets, sealedObjects[index], namespace: "bench")
                    }
                }
            }
            try await group.waitForAll()
        }
        print(String(format: "loaded %d SealedSecrets × %d values (%@) into the dev API server in %.1f s",
                     objects, items, formatV2 ? "v2, 3 recipients" : "v1, RSA-\(key.bits)", (ContinuousClock.now - loadStart).seconds))
        if unrelated > 0 {
            _ = try await client.create(.namespaces, .object([("apiVersion", .string("v1")), ("kind", .string("Namespace")),
                                                              ("metadata", .object([("name", .string("elsewhere"))]))]))
            let filler = String(repeating: "x", count: 1024), unrelated = unrelated
            try await withThrowingTaskGroup(of: Void.self) { group in
                for lane in 0..<8 {
                    group.addTask {
                        for index in stride(from: lane, to: unrelated, by: 8) {
                            let secret: ManifestValue = .object([
                                ("apiVersion", .string("v1")), ("kind", .string("Secret")),
                                ("metadata", .object([("name", .string("other-\(index)")), ("namespace", .string("elsewhere"))])),
                                ("stringData", .object([("blob", .string(filler))])),
                            ])
                            _ = try await client.create(.secrets, secret, namespace: "elsewhere")
                        }
                    }
                }
                try await group.waitForAll()
            }
            print("loaded \(unrelated) unrelated Secrets of 1 KiB each")
        }

        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("cachet-bench-\(getpid())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let kubeconfig = directory.appendingPathComponent("kubeconfig")
        try cluster.kubeconfig().write(to: kubeconfig, atomically: true, encoding: .utf8)

        // Count the controller's Secrets from a watch (cheaper for the shared cores than polling lists).
        let startVersion = String(await cluster.resourceVersion)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: controllerPath)
        process.arguments = ["run", "--kubeconfig", kubeconfig.path, "--namespace", "kube-system",
                             "--listen-addr", "127.0.0.1:0", "--listen-metrics-addr", "127.0.0.1:0",
                             "--key-renew-period", "0", "--log-level", "warning"] + (workers.map { ["--workers", String($0)] } ?? [])
        process.environment = ["PATH": "/usr/bin:/bin"]
        process.standardOutput = FileHandle.nullDevice
        let launched = ContinuousClock.now
        try process.run()
        var seen = Set<String>()
        var firstSecret: Duration?
        var resourceVersion = startVersion
        watching: while seen.count < objects {
            for try await event in client.watch(.secrets, namespace: "bench", resourceVersion: resourceVersion,
                                                labelSelector: "cachet.dev/unsealed-by", timeoutSeconds: 60) {
                if let version = event.object.string(at: ["metadata", "resourceVersion"]) { resourceVersion = version }
                guard event.kind == .added, let name = event.object.string(at: ["metadata", "name"]) else { continue }
                if firstSecret == nil { firstSecret = ContinuousClock.now - launched }
                seen.insert(name)
                if seen.count == objects { break watching }
            }
            guard process.isRunning else { break }
        }
        let elapsed = ContinuousClock.now - launched
        let peakRSS = peakResidentKilobytes(pid: process.processIdentifier)
        let controllerCPU = cpuSeconds(pid: process.processIdentifier)
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        let serverCPU = Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
        process.terminate()
        process.waitUntilExit()
        try? await client.shutdown()
        await cluster.shutdown()

        let bareAfter = try bareRate(key: key, cores: cores)
        let bare = max(bareBefore, bareAfter)
        let operations = Double(objects * items)
        let floor = operations / bare
        print(String(format: "controller: all %d Secrets after %.2f s (first after %.2f s); %.0f values/s; peak RSS %.1f MiB; CPU %.1f s",
                     seen.count, elapsed.seconds, firstSecret?.seconds ?? .nan, operations / elapsed.seconds, Double(peakRSS) / 1024, controllerCPU))
        if formatV2 {
            print(String(format: "v2 values: no RSA floor applies (one X25519 operation each); this process (dev API server, loading) %.1f s CPU", serverCPU))
        } else {
            print(String(format: "bare OpenSSL RSA-%d OAEP decrypt on %d cores: %.1f ops/s (before %.1f, after %.1f) → floor %.2f s for %d operations",
                         key.bits, cores, bare, bareBefore, bareAfter, floor, objects * items))
            print(String(format: "controller time / floor: %.2f× (the dev API server shares these cores)", elapsed.seconds / floor))
            print(String(format: "CPU: controller %.1f s (%.1f s of it the RSA floor); this process (dev API server, loading, bare runs) %.1f s",
                         controllerCPU, operations / (bare / Double(cores)), serverCPU))
        }
        if seen.count < objects { print("WARNING: the controller stopped before every Secret existed"); exit(1) }
    }

    /// The key as a Bitnami key Secret in kube-system, and the namespace `bench` the benchmarks' objects live in.
    /// A dev API server with `key` installed and `cachet-controller run` in this process against it, its keys
    /// loaded; `configure` adjusts its settings (loopback ports, no renewal, else the production defaults).
    struct Running {
        let cluster: DevCluster
        let client: KubeClient
        let controller: Controller
        let task: Task<Void, any Error>
        let apiURL: String
        let metricsURL: String

        func stop() async {
            await controller.shutdown()
            _ = await task.result
            try? await client.shutdown()
            await cluster.shutdown()
        }
    }

    static func startController(key: RSAPrivateKey, certificatePEM: String, workers: Int,
                                configure: (inout Controller.Settings) -> Void = { _ in }) async throws -> Running {
        let cluster = await DevCluster(settings: .init())
        try await cluster.start()
        let client = try KubeClient(config: cluster.clientConfig())
        try await installKeyAndNamespace(client: client, key: key, certificatePEM: certificatePEM)
        var settings = Controller.Settings(namespace: "kube-system", workers: workers)
        settings.listen = .init(host: "127.0.0.1", port: 0)
        settings.listenMetrics = .init(host: "127.0.0.1", port: 0)
        settings.keys.renewPeriod = .zero
        configure(&settings)
        let controller = Controller(client: client, settings: settings, logger: .init(label: "bench") { _ in SwiftLogNoOpLogHandler() })
        let task = Task { try await controller.run() }
        guard let ports = await controller.listeningPorts() else { throw KubeError(.transport, "the controller did not start") }
        await controller.keys.waitUntilReady()
        return Running(cluster: cluster, client: client, controller: controller, task: task,
                       apiURL: "http://127.0.0.1:\(ports.api)", metricsURL: "http://127.0.0.1:\(ports.metrics)")
    }

    static func installKeyAndNamespace(
        client: KubeClient, key: RSAPrivateKey, certificatePEM: String, ageIdentity: AgeIdentity? = nil
    ) async throws {
        let identityItem = try ageIdentity.map { [(KeyRing.ageIdentityItem, ManifestValue.string(Base64.encode(try $0.fileContents(created: "bench"))))] } ?? []
        _ = try await client.create(.secrets, .object([
            ("apiVersion", .string("v1")), ("kind", .string("Secret")),
            ("metadata", .object([("name", .string("sealed-secrets-keybench")), ("namespace", .string("kube-system")),
                                  ("labels", .stringMap(["sealedsecrets.bitnami.com/sealed-secrets-key": "active"]))])),
            ("type", .string("kubernetes.io/tls")),
            ("data", .object([("tls.crt", .string(Base64.encode(Array(certificatePEM.utf8)))),
                              ("tls.key", .string(Base64.encode(try key.pkcs1PEM())))] + identityItem)),
        ]), namespace: "kube-system")
        _ = try await client.create(.namespaces, .object([("apiVersion", .string("v1")), ("kind", .string("Namespace")),
                                                          ("metadata", .object([("name", .string("bench"))]))]))
    }

    /// The bare private operation on every core at once, in operations a second (best of 3).
    static func bareRate(key: RSAPrivateKey, cores: Int) throws -> Double {
        let scope = SealingScope.strict(namespace: "bench", name: "app")
        let sealed = try EnvelopeV1.sealedValue(Array("x".utf8), to: key.publicKey, scope: scope)
        let wrapped = try BareOpenSSL.wrappedKey(of: try Base64.decode(sealed))
        let bare = try BareOpenSSL(key: key)
        let iterations = 60
        var best = 0.0
        for _ in 0..<3 {
            let start = ContinuousClock.now
            DispatchQueue.concurrentPerform(iterations: cores) { _ in
                try? bare.decrypt(wrapped, label: scope.label, iterations: iterations)
            }
            best = max(best, Double(iterations * cores) / (ContinuousClock.now - start).seconds)
        }
        return best
    }

    /// User + system CPU time of a live process, from /proc/PID/stat.
    static func cpuSeconds(pid: Int32) -> Double {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return 0 }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        // After the command: state is field 3, utime field 14, stime field 15 (1-based, man 5 proc).
        guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return 0 }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// VmHWM of a live process, in KiB.
    static func peakResidentKilobytes(pid: Int32) -> Int {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") })
        else { return 0 }
        return Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
