import AsyncHTTPClient
import CachetCrypto
import NIOCore
import NIOSSL
import Synchronization

/// The HTTP clients of one ``KubeClient``: TLS settings are fixed per `HTTPClient`, and an exec plugin may hand out a
/// new client certificate at any time, so there is one client per certificate in use (normally exactly one).
final class Connections: Sendable {
    private let config: KubeConfig
    private let proxy: ProxySetting?
    /// The client without a plugin's certificate, and the one for the plugin's current certificate.
    private let state: Mutex<(plain: HTTPClient?, certificate: [UInt8]?, withCertificate: HTTPClient?, retired: [HTTPClient])>

    init(config: KubeConfig, proxy: ProxySetting?) throws {
        self.config = config
        self.proxy = proxy
        state = Mutex((nil, nil, nil, []))
        let plain = try Self.makeClient(config: config, proxy: proxy, certificate: nil)
        state.withLock { $0.plain = plain }
    }

    /// A new set of connections to the same server, through the same proxy.
    func separate() throws -> Connections {
        try Connections(config: config, proxy: proxy)
    }

    /// `tls-server-name`: the request goes to that name, and the connection to the server's real address; so the
    /// certificate is checked against (and SNI carries) the name the kubeconfig says, as client-go does.
    func requestBase(_ base: String) -> String {
        guard let serverName = config.tlsServerName, base.lowercased().hasPrefix("https://") else { return base }
        let port = ProxySetting.hostAndPort(base).1
        let pathStart = base.dropFirst(8).firstIndex(of: "/").map { String(base[$0...]) } ?? ""
        return "https://\(serverName):\(port)" + pathStart
    }

    func client(certificate: (pem: [UInt8], key: SecureBytes)?) throws -> HTTPClient {
        guard let certificate else {
            guard let plain = state.withLock({ $0.plain }) else { throw KubeError(.transport, "the client has been shut down") }
            return plain
        }
        if let current = state.withLock({ $0.certificate == certificate.pem ? $0.withCertificate : nil }) { return current }
        let fresh = try Self.makeClient(config: config, proxy: proxy, certificate: certificate)
        return state.withLock { state in
            if state.certificate == certificate.pem, let current = state.withCertificate {
                state.retired.append(fresh)
                return current
            }
            // The old client may still carry requests; it is closed with the rest at shutdown.
            if let old = state.withCertificate { state.retired.append(old) }
            state.certificate = certificate.pem
            state.withCertificate = fresh
            return fresh
        }
    }

    func shutdown() async throws {
        for client in takeAll() { try await client.shutdown() }
    }

    /// A ``KubeClient`` dropped without `shutdown()` (on a path that threw) still closes its connections rather than
    /// leaking them, or stopping a debug build in AsyncHTTPClient's deinit check. A client that is shutting down keeps
    /// itself alive until it is done.
    deinit {
        for client in takeAll() { _ = client.shutdown() }
    }

    private func takeAll() -> [HTTPClient] {
        state.withLock { state in
            defer { state = (nil, nil, nil, []) }
            return [state.plain, state.withCertificate].compactMap { $0 } + state.retired
        }
    }

    private static func makeClient(config: KubeConfig, proxy: ProxySetting?, certificate: (pem: [UInt8], key: SecureBytes)?) throws -> HTTPClient {
        var tls = TLSConfiguration.makeClientConfiguration()
        do {
            if let ca = config.certificateAuthorityPEM {
                tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(ca))
            }
            if config.insecureSkipTLSVerify {
                tls.certificateVerification = .none
            }
            if let (pem, key) = certificate ?? config.clientCertificatePEM.flatMap({ pem in config.clientKeyPEM.map { (pem, $0) } }) {
                tls.certificateChain = try NIOSSLCertificate.fromPEMBytes(pem).map { .certificate($0) }
                tls.privateKey = .privateKey(try key.withUnsafeBytes { try NIOSSLPrivateKey(bytes: Array($0), format: .pem) })
            }
        } catch {
            throw KubeError(.configuration, certificate == nil
                ? "the kubeconfig's TLS material could not be read: \(error)"
                : "the exec plugin's client certificate or key could not be read")
        }
        var configuration = HTTPClient.Configuration(tlsConfiguration: tls)
        configuration.timeout = .init(connect: .seconds(10), read: nil)
        configuration.redirectConfiguration = .disallow
        // One connection attempt per request: a certificate the CA does not vouch for fails at once instead of being
        // retried until the connect timeout; transient failures are retried by `send`, with backoff.
        configuration.connectionPool.retryConnectionEstablishment = false
        if let serverName = config.tlsServerName, config.server.lowercased().hasPrefix("https://") {
            // Requests name `serverName`; this sends its connections to the server's real host.
            configuration.dnsOverride = [serverName: ProxySetting.hostAndPort(config.server).0]
        }
        if let proxy {
            // Behind a CONNECT proxy NIOSSL also accepts a certificate naming the IP address it connected to, which
            // is the proxy's: with the system's trust roots, any publicly trusted certificate for the proxy's address
            // would pass. The cluster's own CA vouches only for the cluster, so a proxy is used only with one.
            guard config.certificateAuthorityPEM != nil || config.insecureSkipTLSVerify || !config.server.lowercased().hasPrefix("https://") else {
                throw KubeError(.configuration, "a proxy (\(proxy.host):\(proxy.port)) is used only with the cluster's certificate-authority in the kubeconfig")
            }
            let authorization = proxy.userInfo.map { HTTPClient.Authorization.basic(credentials: Base64.encode(Array($0.utf8))) }
            configuration.proxy = .server(host: proxy.host, port: proxy.port, authorization: authorization)
        }
        return HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }
}
