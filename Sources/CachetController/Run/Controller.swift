import CachetKube
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import ServiceLifecycle
import UnixSignals
import Synchronization

/// `cachet-controller run`, assembled: the HTTP API, the metrics endpoint, the key manager and the reconciler, each
/// a service of one `ServiceGroup`.
///
/// Start-up order: both servers listen at once (the API answers `/healthz` before any key is loaded); the reconciler
/// starts once the keys are. Graceful shutdown (SIGTERM, SIGINT, or ``shutdown()``) runs in the reverse order: the
/// reconciler first (its workers finish the objects they hold, so no write is cut short), then the keys, then the
/// servers, which finish their open requests.
package final class Controller: Sendable {
    package struct Settings: Sendable {
        package var listen: ListenAddress = .init(host: "0.0.0.0", port: 8080)
        package var listenMetrics: ListenAddress = .init(host: "0.0.0.0", port: 8081)
        package var keys: KeyManager.Settings
        package var reconciler: Reconciler.Settings
        /// `/v1/verify` and `/v1/rotate`, per client (and ten times that for all clients together).
        package var rateLimit: Double = 2
        package var rateLimitBurst: Double = 2
        /// Close a connection that sends nothing for this long (Bitnami: 2-minute read and write timeouts).
        package var idleTimeout: Duration = .seconds(120)
        /// Connections served at once, per server; more wait in the listen backlog.
        package var maxConnections = 512
        /// Bounds on the RSA work `/v1/verify` and `/v1/rotate` may cause.
        package var apiWork = APIWorkLimits()
        /// The sealing page at `GET /` (`--web-ui`).
        package var webUI = true
        /// The longest a graceful shutdown may take before the remaining work is cancelled.
        package var maximumShutdownDuration: Duration = .seconds(20)
        /// Several replicas (`--leader-elect`): only the one holding the Lease reconciles and makes keys. nil: this
        /// process assumes it runs alone (Bitnami's way).
        package var leaderElection: LeaderElection.Settings?

        package init(namespace: String, workers: Int) {
            keys = .init(namespace: namespace)
            reconciler = .init(workers: workers)
        }
    }

    /// `HOST:PORT` as Go writes listen addresses: `:8080` is every interface, `[::1]:8080` an IPv6 host.
    package struct ListenAddress: Sendable, Equatable, CustomStringConvertible {
        package var host: String
        package var port: Int

        package init(host: String, port: Int) {
            self.host = host
            self.port = port
        }

        package init?(_ text: String) {
            guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port)
            else { return nil }
            var host = String(text[..<colon])
            if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
            if host.contains(":") && !text.hasPrefix("[") { return nil }
            self.init(host: host.isEmpty ? "0.0.0.0" : host, port: port)
        }

        package var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
    }

    package let client: KubeClient
    package let settings: Settings
    package let keys: KeyManager
    package let metrics: ControllerMetrics
    package let reconciler: Reconciler
    package let election: LeaderElection?
    let logger: Logger
    private let group = Mutex<ServiceGroup?>(nil)
    private let bound = Mutex<(api: Int?, metrics: Int?)>((nil, nil))
    private let boundStream: AsyncStream<Void>.Continuation
    private let boundEvents: AsyncStream<Void>

    package init(client: KubeClient, settings: Settings, logger: Logger) {
        self.client = client
        self.settings = settings
        self.logger = logger
        let metrics = ControllerMetrics()
        self.metrics = metrics
        election = settings.leaderElection.map { LeaderElection(client: client, settings: $0, logger: logger, metrics: metrics) }
        keys = KeyManager(client: client, settings: settings.keys, logger: logger, leadership: election)
        reconciler = Reconciler(client: client, keys: keys, metrics: metrics, settings: settings.reconciler, logger: logger)
        (boundEvents, boundStream) = AsyncStream.makeStream(of: Void.self)
    }

    /// Runs until graceful shutdown; `signals` (SIGTERM and SIGINT for the command) start one, and each of
    /// `renewalSignals` (SIGUSR1 for the command, Bitnami's manual rotation) generates a new sealing key at once.
    package func run(signals: [UnixSignal] = [], renewalSignals: [UnixSignal] = []) async throws {
        let api = server(ControllerAPI(keys: keys, metrics: metrics, rate: settings.rateLimit, burst: settings.rateLimitBurst,
                                       limits: settings.apiWork, webUI: settings.webUI),
                         at: settings.listen, name: "api") { port in self.bound.withLock { $0.api = port } }
        let metricsServer = server(MetricsEndpoint(metrics: metrics), at: settings.listenMetrics, name: "metrics") { port in
            self.bound.withLock { $0.metrics = port }
        }
        var configuration = ServiceGroupConfiguration(
            services: [
                .init(service: api, serviceName: "http-api"),
                .init(service: metricsServer, serviceName: "http-metrics"),
            ] + (election.map { election in [
                // Shut down after the reconciler and the keys (services stop in reverse order): the Lease is
                // released only once every write this replica started as the leader, a key included, has finished.
                .init(service: election, serviceName: "leader-election"),
                .init(service: keys, serviceName: "keys"),
                .init(service: WhenLeading(election: election, reconciler: reconciler), serviceName: "reconciler"),
            ] } ?? [
                .init(service: keys, serviceName: "keys"),
                .init(service: reconciler, serviceName: "reconciler"),
            ]) + (renewalSignals.isEmpty ? [] : [
                // Trapped from here on: the default action of SIGUSR1 would end the process.
                .init(service: RenewalOnSignal(keys: keys, signals: await UnixSignalsSequence(trapping: renewalSignals)),
                      serviceName: "renewal-on-signal"),
            ]),
            gracefulShutdownSignals: signals,
            logger: logger)
        // Whatever state it is in, a graceful shutdown that takes longer than this becomes cancellation, well inside
        // Kubernetes' default 30-second grace period before SIGKILL.
        configuration.maximumGracefulShutdownDuration = settings.maximumShutdownDuration
        let serviceGroup = ServiceGroup(configuration: configuration)
        group.withLock { $0 = serviceGroup }
        defer { boundStream.finish() }
        try await serviceGroup.run()
    }

    /// Starts a graceful shutdown of ``run(signals:)``.
    package func shutdown() async {
        await group.withLock { $0 }?.triggerGracefulShutdown()
    }

    /// The ports both servers listen on, once they do (useful with port 0); nil if the controller stopped first.
    package func listeningPorts() async -> (api: Int, metrics: Int)? {
        var events = boundEvents.makeAsyncIterator()
        while true {
            let ports = bound.withLock { $0 }
            if let api = ports.api, let metrics = ports.metrics { return (api, metrics) }
            guard await events.next() != nil else { return nil }
        }
    }

    private func server<Responder: HTTPResponder>(
        _ responder: Responder, at address: ListenAddress, name: String, onBound: @escaping @Sendable (Int) -> Void
    ) -> Application<Responder> where Responder.Context == ControllerRequestContext {
        var serverLogger = logger
        serverLogger.logLevel = max(logger.logLevel, .notice)
        let idle = TimeAmount.nanoseconds(Int64(settings.idleTimeout.seconds * 1e9))
        return Application(
            responder: responder,
            server: .http1(configuration: .init(idleTimeout: idle)),
            configuration: .init(address: .hostname(address.host, port: address.port),
                                 availableConnectionsDelegate: MaximumAvailableConnections(settings.maxConnections)),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? address.port
                onBound(port)
                self.boundStream.yield()
                self.logger.info("listening", metadata: ["server": "\(name)", "address": "\(address.host):\(port)"])
            },
            logger: serverLogger)
    }
}

/// The reconciler, started once this replica leads. Leadership is lost only by the election failing, which ends the
/// process: so there is no stopping here, and no second start.
private struct WhenLeading: Service {
    let election: LeaderElection
    let reconciler: Reconciler

    func run() async throws {
        do {
            try await cancelWhenGracefulShutdown { try await election.waitUntilLeader() }
        } catch {
            return  // shut down before leading: nothing to finish
        }
        try await reconciler.run()
    }
}

/// A new sealing key on every signal of a sequence, until graceful shutdown.
private struct RenewalOnSignal: Service {
    let keys: KeyManager
    let signals: UnixSignalsSequence

    func run() async {
        await cancelWhenGracefulShutdown {
            for await _ in signals { await keys.renewNow() }
        }
    }
}
