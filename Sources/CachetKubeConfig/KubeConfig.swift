#if canImport(Glibc)
import Glibc
#endif
import CachetCrypto
import CachetManifests

/// Where the API server is and how to authenticate: from a kubeconfig file (as kubectl reads it) or from the pod's
/// service account (in-cluster).
package struct KubeConfig: Sendable {
    /// `https://host:port` (or `http://` for a local dev server).
    package var server: String
    /// The context's namespace, the service account's namespace in-cluster, or `default`.
    package var namespace: String
    /// PEM CA certificates to trust for the server; nil means the system's trust store.
    package var certificateAuthorityPEM: [UInt8]?
    package var insecureSkipTLSVerify = false
    /// Overrides the name the server's certificate is checked against.
    package var tlsServerName: String?
    /// PEM client certificate and key, for client-certificate authentication.
    package var clientCertificatePEM: [UInt8]?
    package var clientKeyPEM: SecureBytes?
    package var credentials: Credentials = .none
    /// The cluster's `proxy-url`; when nil, `HTTPS_PROXY`/`HTTP_PROXY` and `NO_PROXY` decide (see ``proxy(environment:)``).
    package var proxyURL: String?

    package enum Credentials: Sendable {
        case none
        case bearerToken(String)
        /// A token file, re-read when it changes (service-account tokens rotate, about hourly).
        case bearerTokenFile(String)
        case basic(username: String, password: String)
        /// A credential plugin, run when a credential is needed (see ``ExecCredentialSource``).
        case exec(ExecCredentialSource)
    }

    package init(server: String, namespace: String = "default") {
        self.server = server
        self.namespace = namespace
    }

    /// The exec plugin to ask for a credential, if the user has one. Its credential (a cloud identity token, often
    /// good for much more than this cluster) crosses the network only inside TLS: for an http:// server this fails,
    /// where kubectl would silently send nothing and get a 401.
    package func execSource() throws -> ExecCredentialSource? {
        guard case .exec(let source) = credentials else { return nil }
        guard server.lowercased().hasPrefix("https://") else {
            throw KubeError(.configuration, "kubeconfig user \"\(source.plugin.userName)\" gets its credential from an exec plugin, which is sent only over https://, and the server is \(server)")
        }
        return source
    }

    /// The proxy requests to this server go through, if any (see ``ProxySetting/forServer(_:proxyURL:environment:)``).
    package func proxy(environment: [String: String]) throws -> ProxySetting? {
        try ProxySetting.forServer(server, proxyURL: proxyURL, environment: environment)
    }

    /// The files `KUBECONFIG` names (colon-separated), else `~/.kube/config`.
    package static func defaultPaths(environment: [String: String]) -> [String] {
        if let variable = environment["KUBECONFIG"], !variable.isEmpty {
            return variable.split(separator: ":").map(String.init).filter { !$0.isEmpty }
        }
        guard let home = environment["HOME"] else { return [] }
        return [home + "/.kube/config"]
    }

    /// What kubectl's `--server` and `--token` override in whatever configuration was found.
    package struct Overrides: Sendable, Equatable {
        package var server: String?
        package var token: String?

        package init(server: String? = nil, token: String? = nil) {
            self.server = server
            self.token = token
        }
    }

    /// kubectl's order: an explicit `--kubeconfig`, else `KUBECONFIG`'s files (merged, first definition wins), else
    /// `~/.kube/config`, else the in-cluster service account; then `--server` and `--token` replace what it says.
    /// `--server` alone needs no kubeconfig at all, as with kubectl.
    package static func resolve(
        kubeconfig: String? = nil, context: String? = nil, overrides: Overrides = Overrides(),
        environment: [String: String] = currentEnvironment()
    ) throws -> KubeConfig {
        var config: KubeConfig
        let paths = kubeconfig.map { [$0] } ?? defaultPaths(environment: environment).filter(SecretFiles.exists)
        if !paths.isEmpty {
            config = try load(paths: paths, context: context, serverOverride: overrides.server)
        } else if let server = overrides.server {
            config = KubeConfig(server: server)
        } else if environment["KUBERNETES_SERVICE_HOST"] != nil {
            config = try inCluster(environment: environment)
        } else {
            throw KubeError(.configuration, "no kubeconfig: pass --kubeconfig, set KUBECONFIG, create ~/.kube/config, or run in a pod")
        }
        if let server = overrides.server {
            guard server.hasPrefix("https://") || server.hasPrefix("http://"),
                  server.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value != 0x7F }) else {
                throw KubeError(.configuration, "--server: not an https:// URL")
            }
            config.server = server
            // As client-go: the kubeconfig's tls-server-name was the name of its own server, not of this one.
            config.tlsServerName = nil
        }
        if let token = overrides.token {
            // An explicit token replaces the user's other credentials (token, plugin, password), as with kubectl.
            guard !token.isEmpty, token.utf8.allSatisfy({ $0 > 0x20 && $0 != 0x7F }) else {
                throw KubeError(.configuration, "--token is empty or holds spaces or control characters")
            }
            config.credentials = .bearerToken(token)
        }
        return config
    }

    /// The namespace kubectl would use: the selected context's `namespace`, else `default` (in a pod without a
    /// kubeconfig, the service account's). For commands that, as kubeseal does, fall back to it when their input
    /// names no namespace. Only the contexts are read: a server or user that only a connection needs (an exec plugin,
    /// a missing certificate) is not this question's business. Returns the namespace and where it came from.
    package static func defaultNamespace(
        kubeconfig: String? = nil, context: String? = nil, environment: [String: String] = currentEnvironment()
    ) throws -> (namespace: String, origin: String) {
        let paths = kubeconfig.map { [$0] } ?? defaultPaths(environment: environment).filter(SecretFiles.exists)
        if paths.isEmpty {
            if environment["KUBERNETES_SERVICE_HOST"] != nil,
               let file = try? SecretFiles.read(serviceAccountNamespaceFile),
               case let namespace = file.withUnsafeBytes({ String(decoding: $0, as: UTF8.self) }).filter({ !$0.isWhitespace }),
               !namespace.isEmpty {
                return (namespace, "the pod's service account")
            }
            return ("default", "no kubeconfig, so kubectl's default")
        }
        var contexts: [String: ManifestValue] = [:]
        var currentContext: String?
        for path in paths {
            let file = try readConfig(path)
            currentContext = currentContext ?? file["current-context"]?.stringValue.flatMap { $0.isEmpty ? nil : $0 }
            for entry in file["contexts"]?.arrayValue ?? [] {
                guard let name = entry["name"]?.stringValue, contexts[name] == nil else { continue }
                contexts[name] = entry["context"] ?? .object([])
            }
        }
        guard let contextName = context ?? currentContext else { return ("default", "no current context, so kubectl's default") }
        guard let selected = contexts[contextName] else {
            throw KubeError(.configuration, "\(paths.joined(separator: ":")): no context named \"\(contextName)\"")
        }
        if let namespace = selected["namespace"]?.stringValue, !namespace.isEmpty {
            return (namespace, "the kubeconfig context \"\(contextName)\"")
        }
        return ("default", "the kubeconfig context \"\(contextName)\" names none, so kubectl's default")
    }

    /// Reads kubeconfig files (merged as kubectl merges them) and selects `context` (default: `current-context`).
    /// With `serverOverride`, the cluster's own server may be missing (kubectl's `--server`).
    package static func load(paths: [String], context: String? = nil, serverOverride: String? = nil) throws -> KubeConfig {
        var clusters: [String: (ManifestValue, String)] = [:]
        var users: [String: (ManifestValue, String)] = [:]
        var contexts: [String: ManifestValue] = [:]
        var currentContext: String?
        for path in paths {
            let file = try readConfig(path)
            currentContext = currentContext ?? file["current-context"]?.stringValue.flatMap { $0.isEmpty ? nil : $0 }
            let directory = OutputPath.parent(of: path)
            for (list, field) in [("clusters", "cluster"), ("users", "user"), ("contexts", "context")] {
                for entry in file[list]?.arrayValue ?? [] {
                    guard let name = entry["name"]?.stringValue else { continue }
                    let value = entry[field] ?? .object([])
                    switch list {
                    case "clusters": if clusters[name] == nil { clusters[name] = (value, directory) }
                    case "users": if users[name] == nil { users[name] = (value, directory) }
                    default: if contexts[name] == nil { contexts[name] = value }
                    }
                }
            }
        }
        let where_ = paths.joined(separator: ":")
        guard let contextName = context ?? currentContext else {
            throw KubeError(.configuration, "\(where_): no current-context; pass --context")
        }
        guard let selected = contexts[contextName] else {
            throw KubeError(.configuration, "\(where_): no context named \"\(contextName)\"")
        }
        guard let clusterName = selected["cluster"]?.stringValue, let (cluster, clusterDirectory) = clusters[clusterName] else {
            throw KubeError(.configuration, "\(where_): context \"\(contextName)\" names no known cluster")
        }
        guard let server = serverOverride ?? cluster["server"]?.stringValue, server.hasPrefix("https://") || server.hasPrefix("http://") else {
            throw KubeError(.configuration, "\(where_): cluster \"\(clusterName)\" has no https:// server")
        }
        guard server.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value != 0x7F }) else {
            throw KubeError(.configuration, "\(where_): cluster \"\(clusterName)\" server holds spaces or control characters")
        }
        let namespace = selected["namespace"]?.stringValue.flatMap { $0.isEmpty ? nil : $0 } ?? "default"
        var config = KubeConfig(server: server, namespace: namespace)
        config.insecureSkipTLSVerify = cluster["insecure-skip-tls-verify"] == .bool(true)
        config.tlsServerName = cluster["tls-server-name"]?.stringValue.flatMap { $0.isEmpty ? nil : $0 }
        // Both end up in request lines and URLs (a CONNECT line, the request's host): a plain name or address only.
        if let name = config.tlsServerName, !name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || ".-:".contains($0)) }) {
            throw KubeError(.configuration, "\(where_): cluster \"\(clusterName)\" tls-server-name is not a host name")
        }
        config.certificateAuthorityPEM = try dataOrFile(cluster, "certificate-authority", relativeTo: clusterDirectory)
            .map { $0.withUnsafeBytes { Array($0) } }
        if let proxy = cluster["proxy-url"]?.stringValue, !proxy.isEmpty {
            _ = try ProxySetting(url: proxy, origin: "\(where_): cluster \"\(clusterName)\" proxy-url")
            config.proxyURL = proxy
        }

        if let userName = selected["user"]?.stringValue {
            guard let (user, userDirectory) = users[userName] else {
                throw KubeError(.configuration, "\(where_): context \"\(contextName)\" names no known user \"\(userName)\"")
            }
            if user["auth-provider"] != nil {
                // Removed from kubectl for GCP and Azure in 1.26; their replacements (and OIDC's kubelogin) are exec plugins.
                throw KubeError(.configuration, "\(where_): user \"\(userName)\" uses an auth-provider, which is not supported; use its exec plugin (gke-gcloud-auth-plugin, kubelogin, kubectl oidc-login)")
            }
            config.clientCertificatePEM = try dataOrFile(user, "client-certificate", relativeTo: userDirectory)
                .map { $0.withUnsafeBytes { Array($0) } }
            config.clientKeyPEM = try dataOrFile(user, "client-key", relativeTo: userDirectory)
            if let token = user["token"]?.stringValue, !token.isEmpty {
                config.credentials = .bearerToken(token)
            } else if let file = user["tokenFile"]?.stringValue {
                config.credentials = .bearerTokenFile(resolve(file, relativeTo: userDirectory))
            } else if let username = user["username"]?.stringValue, let password = user["password"]?.stringValue {
                config.credentials = .basic(username: username, password: password)
            } else if let exec = user["exec"], exec != .null {
                var plugin = try ExecPlugin(exec, userName: userName, directory: userDirectory, where: where_)
                if exec["provideClusterInfo"] == .bool(true) {
                    plugin.cluster = ExecPlugin.clusterInfo(cluster, certificateAuthorityPEM: config.certificateAuthorityPEM)
                }
                config.credentials = .exec(ExecCredentialSource(plugin))
            }
        }
        return config
    }

    static let serviceAccountNamespaceFile = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"

    /// The pod's own service account: token (re-read as it rotates), CA and namespace from the mounted files, the
    /// server from `KUBERNETES_SERVICE_HOST`/`PORT`.
    package static func inCluster(
        environment: [String: String] = currentEnvironment(),
        serviceAccountDirectory: String = "/var/run/secrets/kubernetes.io/serviceaccount"
    ) throws -> KubeConfig {
        guard let host = environment["KUBERNETES_SERVICE_HOST"], let port = environment["KUBERNETES_SERVICE_PORT"] else {
            throw KubeError(.configuration, "not in a cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are unset")
        }
        let hostPart = host.contains(":") ? "[\(host)]" : host  // IPv6
        let namespace = (try? SecretFiles.read(serviceAccountDirectory + "/namespace"))
            .map { $0.withUnsafeBytes { String(decoding: $0, as: UTF8.self) }.trimmingWhitespace } ?? "default"
        var config = KubeConfig(server: "https://\(hostPart):\(port)", namespace: namespace.isEmpty ? "default" : namespace)
        config.certificateAuthorityPEM = try SecretFiles.read(serviceAccountDirectory + "/ca.crt").withUnsafeBytes { Array($0) }
        config.credentials = .bearerTokenFile(serviceAccountDirectory + "/token")
        return config
    }

    package static func currentEnvironment() -> [String: String] {
        var result: [String: String] = [:]
        var pointer = environ
        while let entry = pointer.pointee {
            let text = String(cString: entry)
            if let equals = text.firstIndex(of: "=") {
                result[String(text[..<equals])] = String(text[text.index(after: equals)...])
            }
            pointer += 1
        }
        return result
    }

    private static func readConfig(_ path: String) throws -> ManifestValue {
        let bytes = try SecretFiles.read(path)
        do {
            let documents = try ManifestReader.documents(in: bytes)
            guard let root = documents.first?.root else { return .object([]) }
            return try ManifestValue(node: root)
        } catch let error as ManifestError {
            throw error.inFile(path)
        }
    }

    /// `<field>-data` (base64) or `<field>` (a file path, relative to the kubeconfig's directory).
    private static func dataOrFile(_ object: ManifestValue, _ field: String, relativeTo directory: String) throws -> SecureBytes? {
        if let data = object[field + "-data"]?.stringValue {
            do {
                return try SecureBytes(copying: try Base64.decode(data))
            } catch {
                throw KubeError(.configuration, "\(field)-data is not valid base64")
            }
        }
        if let path = object[field]?.stringValue {
            return try SecretFiles.read(resolve(path, relativeTo: directory))
        }
        return nil
    }

    private static func resolve(_ path: String, relativeTo directory: String) -> String {
        path.hasPrefix("/") ? path : SecretFiles.join(directory, path)
    }
}

enum OutputPath {
    static func parent(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }
}

extension String {
    var trimmingWhitespace: String {
        var text = Substring(self)
        while let first = text.first, first.isWhitespace { text.removeFirst() }
        while let last = text.last, last.isWhitespace { text.removeLast() }
        return String(text)
    }
}
