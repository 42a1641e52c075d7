import AsyncHTTPClient
import CachetCrypto
import CachetKubeConfig
import CachetManifests
import FoundationEssentials
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import ServiceLifecycle
import NIOCore
import NIOSSL
import Synchronization

/// A strict, in-process stand-in for kube-apiserver, for tests and the one-machine demo (no kube-apiserver can be
/// installed here). It keeps objects with uid, resourceVersion, generation and creationTimestamp; serves discovery,
/// CRUD, label and field selectors, paging with continue tokens, watches with bookmarks and 410 expiry, merge and
/// JSON patches, the status subresource, ownerReference garbage collection, and a service proxy; and it injects
/// faults on demand. kubectl talks to it as to a real cluster.
package final class DevCluster: Service, Sendable {
    package struct Settings: Sendable {
        /// Required as `Authorization: Bearer …` on every API request when set.
        package var bearerToken: String?
        /// Bearer tokens accepted: the file's lines, read again on every request, so a test can revoke a token and
        /// issue the next one as a real identity provider would (exec credential plugins). Off when nil.
        package var bearerTokenFile: String?
        /// How often a watch that asked for bookmarks gets one.
        package var bookmarkInterval: Duration = .seconds(1)
        /// The longest a watch stays open when the client gives no timeoutSeconds.
        package var maxWatchDuration: Duration = .seconds(1800)
        /// Events kept for watches to resume from; older resourceVersions get 410 Gone.
        package var historyLimit = 10_000
        /// Serve HTTPS with these certificates instead of plain HTTP.
        package var tls: TLSMaterial?

        package init(bearerToken: String? = nil, tls: TLSMaterial? = nil) {
            self.bearerToken = bearerToken
            self.tls = tls
        }
    }

    /// A CA, a server certificate signed by it (for 127.0.0.1 and localhost unless told otherwise), and a client
    /// certificate.
    package struct TLSMaterial: Sendable {
        package let certificateAuthorityPEM: [UInt8]
        /// Set when the server certificate does not name 127.0.0.1: the name clients must check it against (the
        /// kubeconfig's `tls-server-name`).
        package var serverName: String?
        package let serverCertificatePEM: [UInt8]
        package let serverKeyPEM: SecureBytes
        package let clientCertificatePEM: [UInt8]
        package let clientKeyPEM: SecureBytes
        /// Refuse TLS clients that present no certificate signed by the CA.
        package var requireClientCertificate = false

        /// Generates fresh material (RSA-2048: test-grade, quick to make). `serverNames` are the server certificate's
        /// subject alternative names (`IP:…`, `DNS:…`).
        package static func generate(serverNames: [String] = ["IP:127.0.0.1", "DNS:localhost"]) throws -> TLSMaterial {
            let caKey = try RSAPrivateKey.generate(bits: 2048)
            let ca = try Certificate.issue(.init(commonName: "cachet dev-cluster CA", keyUsage: "critical,keyCertSign,cRLSign",
                                                 isCertificateAuthority: true), for: caKey, validity: 7 * 86400)
            let serverKey = try RSAPrivateKey.generate(bits: 2048)
            let server = try Certificate.issue(
                .init(commonName: "cachet-dev-cluster", keyUsage: "critical,digitalSignature,keyEncipherment",
                      extendedKeyUsage: "serverAuth", subjectAlternativeNames: serverNames),
                for: serverKey, issuer: (ca, caKey), validity: 7 * 86400)
            let clientKey = try RSAPrivateKey.generate(bits: 2048)
            let client = try Certificate.issue(
                .init(commonName: "cachet-dev-admin", keyUsage: "critical,digitalSignature,keyEncipherment", extendedKeyUsage: "clientAuth"),
                for: clientKey, issuer: (ca, caKey), validity: 7 * 86400)
            let serverName = serverNames.contains("IP:127.0.0.1") ? nil
                : serverNames.first { $0.hasPrefix("DNS:") }.map { String($0.dropFirst(4)) }
            return TLSMaterial(certificateAuthorityPEM: Array(try ca.pem.utf8), serverName: serverName, serverCertificatePEM: Array(try server.pem.utf8),
                               serverKeyPEM: try serverKey.pkcs1PEM(), clientCertificatePEM: Array(try client.pem.utf8),
                               clientKeyPEM: try clientKey.pkcs1PEM())
        }
    }

    /// On a Service: the URL the service proxy forwards to (there are no pods to route to).
    package static let backendAnnotation = "cachet.dev/dev-cluster-backend"

    package let settings: Settings
    let store: ObjectStore
    let faults = FaultInjector()
    private let proxyClient: HTTPClient
    private let running = Mutex<(task: Task<Void, any Error>?, group: ServiceGroup?, port: Int)>((nil, nil, 0))

    package init(settings: Settings = Settings()) async {
        self.settings = settings
        store = ObjectStore(resources: APIResource.builtIn, historyLimit: settings.historyLimit)
        await store.seedDefaults()
        proxyClient = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup)
    }

    /// The port it serves on (after ``start(port:)``).
    package var port: Int { running.withLock { $0.port } }

    /// `http(s)://127.0.0.1:PORT`
    package var url: String { "\(settings.tls == nil ? "http" : "https")://127.0.0.1:\(port)" }

    /// Starts serving on 127.0.0.1 (port 0: any free port). Returns once the socket is listening.
    package func start(port: Int = 0) async throws {
        let responder = DevClusterResponder(store: store, faults: faults, settings: settings, proxyClient: proxyClient)
        let server: HTTPServerBuilder
        if let tls = settings.tls {
            var configuration = TLSConfiguration.makeServerConfiguration(
                certificateChain: try NIOSSLCertificate.fromPEMBytes(tls.serverCertificatePEM).map { .certificate($0) },
                privateKey: .privateKey(try tls.serverKeyPEM.withUnsafeBytes { try NIOSSLPrivateKey(bytes: Array($0), format: .pem) }))
            if tls.requireClientCertificate {
                configuration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(tls.certificateAuthorityPEM))
                configuration.certificateVerification = .noHostnameVerification
            }
            server = try .tls(.http1(), tlsConfiguration: configuration)
        } else {
            server = .http1()
        }
        var logger = Logger(label: "cachet.dev-cluster")
        logger.logLevel = .critical
        let (listening, ready) = AsyncStream.makeStream(of: Int.self)
        let application = Application(
            responder: responder, server: server,
            configuration: .init(address: .hostname("127.0.0.1", port: port)),
            onServerRunning: { channel in
                ready.yield(channel.localAddress?.port ?? 0)
                ready.finish()
            },
            logger: logger)
        // The server runs until stop(), in a service group of its own so that stop() can end it gracefully: cancelling
        // it instead can drop connections accepted but not yet served, which traps in NIO ("Deinited NIOAsyncWriter
        // without calling finish()", apple/swift-nio#2813) and took the whole test process down once.
        let group = ServiceGroup(configuration: .init(services: [application], logger: logger))
        let task = Task { try await group.run() }
        var iterator = listening.makeAsyncIterator()
        guard let bound = await iterator.next(), bound > 0 else {
            task.cancel()
            _ = try? await task.value
            throw KubeError(.transport, "the dev cluster could not listen on 127.0.0.1:\(port)")
        }
        running.withLock { $0 = (task, group, bound) }
    }

    /// Stops serving; open watches end.
    package func stop() async {
        let (task, group) = running.withLock { state in
            defer { (state.task, state.group) = (nil, nil) }
            return (state.task, state.group)
        }
        guard let task, let group else { return }
        // Refuse new requests first, then end the watches: the server's graceful shutdown waits for open requests,
        // and a watch is a request that never ends by itself. Cancelling is the last resort, for a request that
        // outlives every injected delay.
        faults.stopping = true
        _ = await store.dropAllWatches()
        await group.triggerGracefulShutdown()
        let deadline = Task {
            try await Task.sleep(for: .seconds(15))
            task.cancel()
        }
        _ = try? await task.value
        deadline.cancel()
        faults.stopping = false
    }

    /// As a service of a `ServiceGroup`: serves (starting on any free port unless ``start(port:)`` was called) until
    /// graceful shutdown or cancellation, then stops and releases everything.
    package func run() async throws {
        if running.withLock({ $0.task == nil }) { try await start() }
        try? await gracefulShutdown()
        await shutdown()
    }

    /// Stops and releases everything. Call once, at the end.
    package func shutdown() async {
        await stop()
        try? await proxyClient.shutdown()
    }

    /// Fault: the server goes away and comes back on the same port, with its objects or without them.
    package func restart(keepingState: Bool) async throws {
        let port = self.port
        await stop()
        if !keepingState { await store.wipe() }
        try await start(port: port)
    }

    // MARK: - Faults

    /// The next `count` API requests get `status` (500, 503, 429, 403, …), with `Retry-After` when given.
    package func failNextRequests(_ count: Int, status: Int, retryAfter: Int? = nil) {
        faults.failNext(count, status: status, retryAfter: retryAfter)
    }

    /// The next `count` requests with `method` (POST, PUT, …) whose path contains `path` get `status`; with
    /// `afterApplying`, they are applied first: a write that raced another (409 on a POST reads as AlreadyExists),
    /// or whose answer was lost.
    package func failNextRequests(_ count: Int, status: Int, method: String, path: String, afterApplying: Bool = false) {
        faults.failNext(count, status: status, retryAfter: nil, method: method, path: path, afterApplying: afterApplying)
    }

    /// Every write (POST, PUT, PATCH, DELETE) fails with `status` for the next `duration`; reads pass.
    package func failWrites(status: Int, for duration: Duration) {
        faults.failWrites(status: status, for: duration)
    }

    /// How many requests have met an injected failure so far.
    package var injectedFailures: Int { faults.injectedCount }

    /// Forgets pending injected failures and delays.
    package func clearFaults() {
        faults.clear()
    }

    /// Every response waits this long first (nil: no delay).
    package func delayResponses(by delay: Duration?) {
        faults.delay = delay
    }

    /// Ends every open watch at once; returns how many there were.
    @discardableResult
    package func dropWatches() async -> Int {
        await store.dropAllWatches()
    }

    /// Forgets the event history: watches and continue tokens from before now get 410 Gone.
    package func compactHistory() async {
        await store.compact()
    }

    /// The state at one moment, for ``restoreState(_:)``.
    package struct StateSnapshot: Sendable {
        fileprivate let stored: ObjectStore.SavedState
    }

    /// The state now, for ``restoreState(_:)``.
    package func stateSnapshot() async -> StateSnapshot {
        StateSnapshot(stored: await store.saveState())
    }

    /// Fault: the state goes back to `snapshot` (an etcd restore): later objects are gone, earlier ones are back,
    /// the resourceVersion is lower than clients have seen.
    package func restoreState(_ snapshot: StateSnapshot) async {
        await store.restore(snapshot.stored)
    }

    package var openWatchCount: Int {
        get async { await store.openWatchCount }
    }

    /// The current resourceVersion.
    package var resourceVersion: Int {
        get async { await store.resourceVersion }
    }

    // MARK: - Access

    /// A kubeconfig for this cluster (context `cachet-dev`), with the token and TLS material it needs.
    package func kubeconfig(namespace: String = "default") -> String {
        var cluster = "    server: \(url)\n"
        var user = ""
        if let tls = settings.tls {
            cluster += "    certificate-authority-data: \(Base64.encode(tls.certificateAuthorityPEM))\n"
            if let serverName = tls.serverName { cluster += "    tls-server-name: \(serverName)\n" }
            user += "    client-certificate-data: \(Base64.encode(tls.clientCertificatePEM))\n"
            user += "    client-key-data: \(Base64.encode(tls.clientKeyPEM))\n"
        }
        if let token = settings.bearerToken { user += "    token: \(token)\n" }
        if user.isEmpty { user = "    {}\n" }
        return """
            apiVersion: v1
            kind: Config
            current-context: cachet-dev
            clusters:
            - name: cachet-dev
              cluster:
            \(cluster.split(separator: "\n").map { "  " + $0 }.joined(separator: "\n"))
            contexts:
            - name: cachet-dev
              context:
                cluster: cachet-dev
                user: cachet-dev
                namespace: \(namespace)
            users:
            - name: cachet-dev
              user:
            \(user.split(separator: "\n").map { "  " + $0 }.joined(separator: "\n"))

            """
    }

    /// A client configuration for this cluster.
    package func clientConfig(namespace: String = "default") -> KubeConfig {
        var config = KubeConfig(server: url, namespace: namespace)
        if let tls = settings.tls {
            config.certificateAuthorityPEM = tls.certificateAuthorityPEM
            config.tlsServerName = tls.serverName
            config.clientCertificatePEM = tls.clientCertificatePEM
            config.clientKeyPEM = tls.clientKeyPEM
        }
        if let token = settings.bearerToken { config.credentials = .bearerToken(token) }
        return config
    }
}
