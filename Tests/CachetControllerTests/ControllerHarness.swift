import CachetCrypto
import CachetDevCluster
import CachetKube
import CachetManifests
import CachetTransport
import CachetTestSupport
import Foundation
import Logging
import Synchronization
import Testing
@testable import CachetController

/// A dev cluster with the fixture key installed as a Bitnami key Secret, and `cachet-controller run` in-process
/// against it (both servers on free ports). Logs are captured, to check that no value ever reaches them.
final class ControllerHarness: Sendable {
    let cluster: DevCluster
    let client: KubeClient
    let controller: Controller
    let logs: LogCapture
    let apiURL: String
    let metricsURL: String
    private let running: Task<Void, any Error>

    static let namespace = "kube-system"

    /// `installKey`: put the fixture key in the cluster first (else the controller generates one).
    /// `before`: runs on the cluster before the controller starts. `waitForKeys`: return only once its keys are loaded.
    static func start(
        installKey: Bool = true, cluster configureCluster: (inout DevCluster.Settings) -> Void = { _ in },
        configure: (inout Controller.Settings) -> Void = { _ in },
        before: (KubeClient) async throws -> Void = { _ in }, waitForKeys: Bool = true
    ) async throws -> ControllerHarness {
        var clusterSettings = DevCluster.Settings()
        clusterSettings.bookmarkInterval = .milliseconds(200)
        configureCluster(&clusterSettings)
        let cluster = await DevCluster(settings: clusterSettings)
        try await cluster.start()
        let client = try KubeClient(config: cluster.clientConfig(), retry: .init(maxAttempts: 3, maxDelay: .milliseconds(200), baseDelay: .milliseconds(20)))
        if installKey { _ = try await client.create(.secrets, Self.keySecret(name: "sealed-secrets-keyfixture"), namespace: namespace) }
        for name in ["team-a", "team-b"] {
            _ = try await client.create(.namespaces, .object([("apiVersion", .string("v1")), ("kind", .string("Namespace")),
                                                              ("metadata", .object([("name", .string(name))]))]))
        }

        try await before(client)
        var settings = testSettings()
        configure(&settings)
        let logs = LogCapture()
        var logger = Logger(label: "test") { _ in logs }
        logger.logLevel = .debug
        let controller = Controller(client: client, settings: settings, logger: logger)
        let running = Task { try await controller.run() }
        guard let ports = await controller.listeningPorts() else {
            _ = try? await running.value
            throw KubeError(.transport, "the controller did not start")
        }
        // Tests start from a controller with its keys loaded (the certificate is served only from then on).
        if waitForKeys { await controller.keys.waitUntilReady() }
        return ControllerHarness(cluster: cluster, client: client, controller: controller, logs: logs,
                                 apiURL: "http://127.0.0.1:\(ports.api)", metricsURL: "http://127.0.0.1:\(ports.metrics)", running: running)
    }

    /// A controller for tests: loopback ports of its own, quick keys and retries, no renewal, no rate limit to speak of.
    static func testSettings() -> Controller.Settings {
        var settings = Controller.Settings(namespace: namespace, workers: 2)
        settings.listen = .init(host: "127.0.0.1", port: 0)
        settings.listenMetrics = .init(host: "127.0.0.1", port: 0)
        settings.keys.keyBits = 2048
        settings.keys.renewPeriod = .zero  // the fixture key is older than 30 days: renewal would start at once
        settings.reconciler.retryBaseDelay = .milliseconds(20)
        settings.reconciler.retryMaxDelay = .milliseconds(500)
        settings.rateLimit = 1000
        settings.rateLimitBurst = 1000
        return settings
    }

    private init(cluster: DevCluster, client: KubeClient, controller: Controller, logs: LogCapture, apiURL: String,
                 metricsURL: String, running: Task<Void, any Error>) {
        self.cluster = cluster
        self.client = client
        self.controller = controller
        self.logs = logs
        self.apiURL = apiURL
        self.metricsURL = metricsURL
        self.running = running
    }

    /// Graceful shutdown of the controller; the cluster stays up. Returns what `run` ended with.
    @discardableResult
    func stopController() async -> Result<Void, any Error> {
        await controller.shutdown()
        return await running.result
    }

    /// Graceful shutdown, then the cluster. Returns what `run` ended with.
    @discardableResult
    func close() async -> Result<Void, any Error> {
        let result = await stopController()
        try? await client.shutdown()
        await cluster.shutdown()
        return result
    }

    /// Runs `body` with a started harness and always closes it.
    static func with(
        installKey: Bool = true, cluster configureCluster: (inout DevCluster.Settings) -> Void = { _ in },
        configure: (inout Controller.Settings) -> Void = { _ in },
        _ body: (ControllerHarness) async throws -> Void
    ) async throws {
        let harness = try await start(installKey: installKey, cluster: configureCluster, configure: configure)
        try await withCleanUp { try await body(harness) } cleanUp: {
            if case .failure(let error) = await harness.close() { Issue.record("the controller ended with \(error)") }
        }
        #expect(!harness.logs.text.contains(Support.canary), "a value reached the logs")
    }

    /// A controller whose API server answers its first `failures` requests with 503, so that its keys load only
    /// after a while (its HTTP API is up meanwhile); `body` gets the API's base URL. Everything stops afterwards.
    static func withKeysDelayed(failures: Int, _ body: (String) async throws -> Void) async throws {
        var clusterSettings = DevCluster.Settings()
        clusterSettings.bookmarkInterval = .milliseconds(200)
        let cluster = await DevCluster(settings: clusterSettings)
        try await cluster.start()
        cluster.failNextRequests(failures, status: 503)
        let client = try KubeClient(config: cluster.clientConfig(), retry: .init(maxAttempts: 1))
        var settings = Controller.Settings(namespace: namespace, workers: 1)
        settings.listen = .init(host: "127.0.0.1", port: 0)
        settings.listenMetrics = .init(host: "127.0.0.1", port: 0)
        settings.keys.keyBits = 2048
        let controller = Controller(client: client, settings: settings, logger: .init(label: "test") { _ in LogCapture() })
        let running = Task { try await controller.run() }
        func stop() async {
            await controller.shutdown()
            _ = await running.result
            try? await client.shutdown()
            await cluster.shutdown()
        }
        do {
            let ports = try #require(await controller.listeningPorts())
            try await body("http://127.0.0.1:\(ports.api)")
        } catch {
            await stop()
            throw error
        }
        await stop()
    }

    // MARK: - Objects

    /// The fixture key as Bitnami stores keys.
    static func keySecret(name: String, key: RSAPrivateKey = FixtureKeys.rsa2048, certificatePEM: String? = nil) throws -> ManifestValue {
        let certificate = try certificatePEM ?? String(contentsOf: Repository.cryptoFixtures.appendingPathComponent("rsa2048.crt"), encoding: .utf8)
        return .object([
            ("apiVersion", .string("v1")), ("kind", .string("Secret")),
            ("metadata", .object([("name", .string(name)), ("namespace", .string(namespace)),
                                  ("labels", .stringMap([KeyManager.keyLabel: "active"]))])),
            ("type", .string("kubernetes.io/tls")),
            ("data", .object([("tls.crt", .string(Base64.encode(Array(certificate.utf8)))),
                              ("tls.key", .string(Base64.encode(try key.pkcs1PEM())))])),
        ])
    }

    /// A SealedSecret object sealed with the fixture key.
    static func sealed(
        _ name: String, namespace: String = "team-a", scope: SealingScope.Kind = .strict, items: [String: String] = ["password": Support.canary],
        annotations: [String: String] = [:], type: String? = nil, immutable: Bool? = nil, sealingKey: SealingKey = FixtureKeys.sealingKey
    ) throws -> ManifestValue {
        var sealer = Sealer(sealingKey: sealingKey)
        sealer.scope = scope
        var metadata = ObjectMeta(name: name, namespace: namespace)
        metadata.annotations = annotations
        let secret = SecretManifest(metadata: metadata, items: try items.mapValues { try SecureBytes(copying: Array($0.utf8)) },
                                    type: type, immutable: immutable)
        return try sealer.seal(secret).sealedSecret.manifestValue
    }

    func apply(_ sealedSecret: ManifestValue) async throws -> ManifestValue {
        try await client.create(.sealedSecrets, sealedSecret, namespace: sealedSecret.string(at: ["metadata", "namespace"]))
    }

    /// `apply` while faults are being injected: the test's own requests get them too, so they are retried.
    func applyThroughFaults(_ sealedSecret: ManifestValue) async throws {
        _ = try await retrying { try await self.apply(sealedSecret) }
    }

    /// The test's own request, retried through injected faults and a restarting server (not AlreadyExists) for up
    /// to ten seconds.
    func retrying<T>(_ body: () async throws -> T) async throws -> T {
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            do {
                return try await body()
            } catch let error as KubeError where error.code != .alreadyExists {
                try await Task.sleep(for: .milliseconds(25))
            }
        }
        return try await body()
    }

    func secret(_ name: String, namespace: String = "team-a") async -> ManifestValue? {
        try? await client.get(.secrets, name: name, namespace: namespace)
    }

    func sealedSecret(_ name: String, namespace: String = "team-a") async throws -> ManifestValue {
        try await client.get(.sealedSecrets, name: name, namespace: namespace)
    }

    /// `data` of a Secret, decoded.
    static func data(_ secret: ManifestValue?) -> [String: String] {
        var result: [String: String] = [:]
        for key in secret?.value(at: ["data"])?.keys ?? [] {
            if let text = secret?.string(at: ["data", key]), let bytes = try? Base64.decode(text) {
                result[key] = String(decoding: bytes, as: UTF8.self)
            }
        }
        return result
    }

    func events(namespace: String = "team-a") async throws -> [ManifestValue] {
        try await client.listAll(.events, namespace: namespace).items
    }

    // MARK: - HTTP

    func request(_ url: String, method: String = "GET", body: [UInt8]? = nil, headers: [(String, String)] = []) async throws -> BlockingHTTP.Response {
        try await Self.request(url, method: method, body: body, headers: headers)
    }

    /// One HTTP request with the CLI's own client, on a thread of its own (it blocks).
    static func request(_ url: String, method: String = "GET", body: [UInt8]? = nil, headers: [(String, String)] = []) async throws -> BlockingHTTP.Response {
        try await withCheckedThrowingContinuation { continuation in
            Thread {
                continuation.resume(with: Result {
                    try BlockingHTTP.send(BlockingHTTP.Request(method: method, url: url, headers: headers, body: body), timeoutSeconds: 30)
                })
            }.start()
        }
    }
}

/// Polls `condition` until it holds or `timeout` passes. The default is generous: a passing test never waits it out,
/// and in the whole suite on CI's two cores one step (a key generated after a backoff, say) once took over 20 s.
func eventually(
    _ what: String, timeout: Duration = .seconds(60), sourceLocation: SourceLocation = #_sourceLocation,
    _ condition: () async throws -> Bool
) async throws {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(25))
    }
    Issue.record("timed out waiting for: \(what)", sourceLocation: sourceLocation)
    throw CancellationError()
}

extension ManifestValue {
    var resourceVersion: String? { string(at: ["metadata", "resourceVersion"]) }

    /// The Synced condition's status ("True"/"False") and message.
    var synced: (status: String, message: String)? {
        guard let condition = value(at: ["status", "conditions"])?.arrayValue?.first(where: { $0["type"]?.stringValue == "Synced" }),
              let status = condition["status"]?.stringValue else { return nil }
        return (status, condition["message"]?.stringValue ?? "")
    }
}

/// Every log line, rendered with its metadata. A value, as real handlers are: a logger that changes its level
/// (the HTTP servers' quieter copy) must not change it for every other logger writing here.
struct LogCapture: LogHandler, Sendable {
    private final class Lines: Sendable {
        let lines = Mutex<[String]>([])
    }
    private let storage = Lines()
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let fields = (event.metadata ?? [:]).map { "\($0.key)=\($0.value)" }.sorted().joined(separator: " ")
        storage.lines.withLock { $0.append("\(event.level) \(event.message) \(fields)") }
    }

    var text: String { storage.lines.withLock { $0.joined(separator: "\n") } }
}
