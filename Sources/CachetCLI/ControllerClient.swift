#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import CachetCrypto
import CachetKubeConfig
import CachetManifests
import CachetProgram
import CachetTransport
import Dispatch
import Synchronization

/// How the CLI reaches cachet-controller's HTTP API: through the API server's service proxy, as kubeseal does
/// (`--controller-name`, `--controller-namespace`, and the kubeconfig's credentials), or directly (`--controller-url`).
struct ControllerOptions: ParsableArguments {
    @Option(name: .customLong("controller-name"),
            help: "Name of the controller's Service (default: sealed-secrets-controller, or SEALED_SECRETS_CONTROLLER_NAME).")
    var name: String?

    @Option(name: .customLong("controller-namespace"),
            help: "Namespace of the controller's Service (default: kube-system, or SEALED_SECRETS_CONTROLLER_NAMESPACE).")
    var namespace: String?

    @Option(name: .customLong("controller-url"),
            help: "Reach the controller directly at this https:// URL (http:// only on this machine), not through the API server.")
    var url: String?

    @Option(name: .customLong("controller-ca"), help: "With an https:// --controller-url: the CA certificate to verify it with.")
    var certificateAuthority: String?

    @Option(help: "Kubeconfig file (default: KUBECONFIG, then ~/.kube/config).")
    var kubeconfig: String?

    @Option(help: "The kubeconfig context to use (default: its current context).")
    var context: String?

    @Option(name: .customLong("server"), help: "The API server's URL, in place of the kubeconfig's (as kubectl's --server).")
    var server: String?

    @Option(name: .customLong("token"), help: "A bearer token for the API server, in place of the kubeconfig user's credentials.")
    var token: String?

    /// Whether any of these was given: then the command line names the cluster, and `.cachet.yaml` is not consulted.
    var anyGiven: Bool {
        [name, namespace, url, certificateAuthority, kubeconfig, context, server, token].contains { $0 != nil }
    }

    var values: ControllerValues {
        ControllerValues(name: name, namespace: namespace, url: url, certificateAuthority: certificateAuthority,
                         kubeconfig: kubeconfig, context: context, overrides: KubeConfig.Overrides(server: server, token: token))
    }
}

/// The controller options as plain values (``ControllerOptions`` declares the flags).
struct ControllerValues: Equatable {
    var name: String?
    var namespace: String?
    var url: String?
    var certificateAuthority: String?
    var kubeconfig: String?
    var context: String?
    var overrides = KubeConfig.Overrides()

    /// The namespace kubectl would use with `--kubeconfig` and `--context` (see ``KubeConfig/defaultNamespace``).
    func defaultNamespace() throws -> (namespace: String, origin: String) {
        do {
            return try KubeConfig.defaultNamespace(kubeconfig: kubeconfig, context: context)
        } catch let error as KubeError {
            throw CommandFailure(error.message, hint: "pass -n/--namespace")
        }
    }

    var client: ControllerClient {
        let environment = KubeConfig.currentEnvironment()
        func setting(_ given: String?, _ variable: String, _ fallback: String) -> String {
            given ?? environment["SEALED_SECRETS_" + variable].flatMap { $0.isEmpty ? nil : $0 } ?? fallback
        }
        return ControllerClient(
            serviceName: setting(name, "CONTROLLER_NAME", "sealed-secrets-controller"),
            serviceNamespace: setting(namespace, "CONTROLLER_NAMESPACE", "kube-system"),
            url: url, certificateAuthority: certificateAuthority, kubeconfig: kubeconfig, context: context,
            overrides: overrides, environment: environment)
    }
}

/// One request at a time to the controller's API (`/v1/cert.pem`, `/v1/verify`, `/v1/rotate`).
struct ControllerClient {
    let serviceName: String
    let serviceNamespace: String
    let url: String?
    let certificateAuthority: String?
    let kubeconfig: String?
    let context: String?
    let overrides: KubeConfig.Overrides
    let environment: [String: String]

    /// Where requests go, for messages.
    var target: String { url ?? "the Service \(serviceNamespace)/\(serviceName)" }

    /// Sends one request to the controller; the answer as it came (any status), except that failures to reach it
    /// at all are errors naming what could not be reached.
    func send(_ method: String, _ path: String, body: [UInt8]? = nil, accept: String = "*/*") throws -> BlockingHTTP.Response {
        if let url {
            return try sendDirect(method, url: url, path: path, body: body, accept: accept)
        }
        let api = try APIServer(kubeconfig: kubeconfig, context: context, overrides: overrides, environment: environment)
        // kubeseal's way: the Service's first port, by name (an unnamed port gives `http:NAME:`).
        let servicePath = "/api/v1/namespaces/\(PathEscape.segment(serviceNamespace))/services/\(PathEscape.segment(serviceName))"
        let service = try api.send("GET", servicePath, accept: "application/json")
        switch service.status {
        case 200: break
        case 404:
            throw CommandFailure("no Service \(serviceNamespace)/\(serviceName) in the cluster at \(api.config.server)",
                                 hint: "pass --controller-name and --controller-namespace, or --controller-url")
        default:
            throw CommandFailure("cannot read the Service \(serviceNamespace)/\(serviceName): HTTP \(service.status)\(Self.reason(service))",
                                 hint: service.status == 401 || service.status == 403
                                    ? "your kubeconfig user needs get on services and services/proxy in \(serviceNamespace)" : nil)
        }
        let port = (try? ManifestValue(json: service.body))?.value(at: ["spec", "ports"])?.arrayValue?.first?["name"]?.stringValue ?? ""
        let proxyPath = "/api/v1/namespaces/\(PathEscape.segment(serviceNamespace))/services/"
            + "http:\(PathEscape.segment(serviceName)):\(PathEscape.segment(port))/proxy" + path
        let response = try api.send(method, proxyPath, body: body, accept: accept)
        // The API server answers 503 for a Service with no ready pod, and 502 when the pod does not answer; those
        // bodies are the API server's, not the controller's.
        if response.status == 502 || response.status == 503, response.header("Content-Type")?.hasPrefix("application/json") == true {
            throw CommandFailure("the controller behind \(target) is not reachable: HTTP \(response.status)\(Self.reason(response))",
                                 hint: "check that the controller pod is running and ready")
        }
        return response
    }

    private func sendDirect(_ method: String, url: String, path: String, body: [UInt8]?, accept: String) throws -> BlockingHTTP.Response {
        let lowered = url.lowercased()
        if lowered.hasPrefix("http://") {
            guard Self.isLoopbackHTTP(url) else {
                throw CommandFailure("--controller-url \(url): plain http:// is accepted only for 127.0.0.1, ::1 and localhost",
                                     hint: "use https://, or go through the API server (drop --controller-url)")
            }
        } else if !lowered.hasPrefix("https://") {
            throw CommandFailure("--controller-url \(url): not an http:// or https:// URL")
        }
        let authority = try certificateAuthority.map { try SecretFiles.read($0, limit: 1 << 20).withUnsafeBytes { Array($0) } }
        let base = url.hasSuffix("/") ? String(url.dropLast()) : url
        var headers = [("Accept", accept)]
        if body != nil { headers.append(("Content-Type", "application/json")) }
        do {
            return try BlockingHTTP.send(BlockingHTTP.Request(method: method, url: base + path, headers: headers, body: body),
                                         tls: BlockingHTTP.TLSSettings(certificateAuthorityPEM: authority))
        } catch let error as BlockingHTTP.Failure {
            throw CommandFailure("cannot reach the controller at \(url): \(error.message)")
        }
    }

    /// Plain HTTP only to this machine (`kubectl port-forward`, the one-machine flow): anything that crosses a network
    /// could swap the certificate, and every value sealed to it would be readable by whoever swapped it.
    static func isLoopbackHTTP(_ url: String) -> Bool {
        let lowered = url.lowercased()
        guard lowered.hasPrefix("http://") else { return false }
        let host = lowered.dropFirst(7).prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        return ["127.0.0.1", "localhost", "[::1]"].contains { host == $0 || host.hasPrefix($0 + ":") }
    }

    /// The API server's own message from a Status body, if any, as " (message)".
    static func reason(_ response: BlockingHTTP.Response) -> String {
        guard let status = try? ManifestValue(json: response.body), let message = status["message"]?.stringValue else { return "" }
        return " (\(message.prefix(200)))"
    }
}

/// Requests to the API server with the kubeconfig's server, TLS material, proxy and credentials.
struct APIServer {
    let config: KubeConfig
    let proxy: BlockingHTTP.Proxy?

    init(kubeconfig: String?, context: String?, overrides: KubeConfig.Overrides = KubeConfig.Overrides(), environment: [String: String]) throws {
        do {
            config = try KubeConfig.resolve(kubeconfig: kubeconfig, context: context, overrides: overrides, environment: environment)
            proxy = try config.proxy(environment: environment).map { BlockingHTTP.Proxy(host: $0.host, port: $0.port, userInfo: $0.userInfo) }
        } catch let error as KubeError {
            throw CommandFailure(error.message, hint: error.hint ?? "or pass --controller-url, or seal with --cert FILE")
        }
    }

    func send(_ method: String, _ path: String, body: [UInt8]? = nil, accept: String) throws -> BlockingHTTP.Response {
        let response = try sendOnce(method, path, body: body, accept: accept)
        // A refused plugin credential (revoked, or expired early): run the plugin again and repeat once, as kubectl does.
        if response.response.status == 401, case .exec(let source) = config.credentials, let generation = response.execGeneration {
            try Blocking.run { await source.refused(generation: generation) }
            return try sendOnce(method, path, body: body, accept: accept).response
        }
        return response.response
    }

    private func sendOnce(_ method: String, _ path: String, body: [UInt8]?, accept: String) throws -> (response: BlockingHTTP.Response, execGeneration: Int?) {
        var headers = [("Accept", accept)]
        if body != nil { headers.append(("Content-Type", "application/json")) }
        var tls = BlockingHTTP.TLSSettings(certificateAuthorityPEM: config.certificateAuthorityPEM)
        tls.insecureSkipVerify = config.insecureSkipTLSVerify
        tls.serverName = config.tlsServerName
        tls.clientCertificatePEM = config.clientCertificatePEM
        tls.clientKeyPEM = config.clientKeyPEM
        var execGeneration: Int?
        switch config.credentials {
        case .none: break
        case .bearerToken(let token): headers.append(("Authorization", "Bearer " + token))
        case .bearerTokenFile(let path):
            let token = try SecretFiles.read(path, limit: 1 << 16).withUnsafeBytes { String(decoding: $0, as: UTF8.self) }
            headers.append(("Authorization", "Bearer " + token.filter { !$0.isWhitespace }))
        case .basic(let username, let password):
            headers.append(("Authorization", "Basic " + Base64.encode(Array("\(username):\(password)".utf8))))
        case .exec:
            let credential: ExecCredential
            do {
                let source = try config.execSource()!
                credential = try Blocking.run { try await source.credential() }
            } catch let error as KubeError {
                throw CommandFailure(error.message, hint: error.hint)
            }
            execGeneration = credential.generation
            if let token = credential.token { headers.append(("Authorization", "Bearer " + token)) }
            if let certificate = credential.clientCertificatePEM, let key = credential.clientKeyPEM {
                tls.clientCertificatePEM = certificate
                tls.clientKeyPEM = key
            }
        }
        do {
            let response = try BlockingHTTP.send(BlockingHTTP.Request(method: method, url: config.server + path, headers: headers, body: body),
                                                 tls: tls, proxy: proxy)
            return (response, execGeneration)
        } catch let error as BlockingHTTP.Failure {
            throw CommandFailure("cannot reach the API server at \(config.server)\(proxy.map { " through the proxy \($0.host):\($0.port)" } ?? ""): \(error.message)")
        }
    }
}

/// A value handed to another thread and back; the hand-over must be ordered by something else (a DispatchGroup's
/// wait, a lock).
final class Box<Value>: @unchecked Sendable {
    var value: Value
    init(_ value: Value) { self.value = value }
}

/// The CLI runs synchronously on the main thread; the plugin runner is asynchronous. This runs an operation on the
/// concurrency pool and waits for it. The main thread is not one of the pool's, so the wait cannot starve it.
enum Blocking {
    static func run<T: Sendable>(_ operation: @escaping @Sendable () async throws -> T) throws -> T {
        let result = Mutex<Result<T, any Error>?>(nil)
        let done = DispatchSemaphore(value: 0)
        Task {
            let outcome: Result<T, any Error>
            do { outcome = .success(try await operation()) } catch { outcome = .failure(error) }
            result.withLock { $0 = outcome }
            done.signal()
        }
        done.wait()
        return try result.withLock { $0! }.get()
    }
}
