import CachetCrypto
import CachetDevCluster
import CachetKube
import CachetManifests
import CachetTestSupport
import Foundation
import Testing

struct KubeConfigTests {
    static let first = """
        apiVersion: v1
        kind: Config
        current-context: dev
        clusters:
        - name: dev
          cluster: {server: "https://127.0.0.1:6443", certificate-authority: certs/ca.pem, tls-server-name: api.dev}
        - name: shared
          cluster: {server: "https://first.example:443"}
        contexts:
        - name: dev
          context: {cluster: dev, user: dev-user, namespace: team-a}
        - name: prod
          context: {cluster: prod, user: prod-user}
        users:
        - name: dev-user
          user: {tokenFile: token.txt}
        """
    static let second = """
        apiVersion: v1
        kind: Config
        current-context: prod
        clusters:
        - name: prod
          cluster: {server: "https://prod.example:6443", insecure-skip-tls-verify: true}
        - name: shared
          cluster: {server: "https://second.example:443"}
        users:
        - name: prod-user
          user: {username: admin, password: hunter2}
        - name: exec-user
          user: {exec: {apiVersion: client.authentication.k8s.io/v1alpha1, command: aws}}
        contexts:
        - name: plugin
          context: {cluster: prod, user: exec-user}
        - name: shared
          context: {cluster: shared}
        """

    @Test("several files merge as kubectl merges them: the first definition and current-context win")
    func merge() throws {
        let directory = try TemporaryDirectory()
        let one = try directory.write("one/config", Self.first)
        let two = try directory.write("two/config", Self.second)
        _ = try directory.write("one/certs/ca.pem", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
        _ = try directory.write("one/token.txt", "abc\n")

        let dev = try KubeConfig.load(paths: [one, two])
        #expect(dev.server == "https://127.0.0.1:6443" && dev.namespace == "team-a")
        #expect(dev.certificateAuthorityPEM.map { String(decoding: $0, as: UTF8.self) }?.contains("BEGIN CERTIFICATE") == true,
                "a relative certificate-authority is read from beside its kubeconfig")
        #expect(dev.tlsServerName == "api.dev")
        guard case .bearerTokenFile(let tokenFile) = dev.credentials else { Issue.record("expected a token file"); return }
        #expect(tokenFile == directory.path("one/token.txt"))

        let prod = try KubeConfig.load(paths: [one, two], context: "prod")
        #expect(prod.server == "https://prod.example:6443" && prod.namespace == "default" && prod.insecureSkipTLSVerify)
        guard case .basic(let username, _) = prod.credentials else { Issue.record("expected basic auth"); return }
        #expect(username == "admin")

        #expect(try KubeConfig.load(paths: [one, two], context: "shared").server == "https://first.example:443")
        #expect(try KubeConfig.load(paths: [two, one]).server == "https://prod.example:6443", "current-context from the first file")

        #expect(throws: KubeError.self) { try KubeConfig.load(paths: [one, two], context: "plugin") }
        #expect(throws: KubeError.self) { try KubeConfig.load(paths: [one, two], context: "missing") }
        do {
            _ = try KubeConfig.load(paths: [one, two], context: "plugin")
        } catch let error as KubeError {
            #expect(error.message.contains("exec plugin: apiVersion \"client.authentication.k8s.io/v1alpha1\" is not supported"), "\(error)")
        }
    }

    @Test("KUBECONFIG and ~/.kube/config are found as kubectl finds them")
    func resolution() throws {
        let directory = try TemporaryDirectory()
        let one = try directory.write("one/config", Self.first)
        let two = try directory.write("two/config", Self.second)
        #expect(KubeConfig.defaultPaths(environment: ["KUBECONFIG": "\(one):\(two)", "HOME": "/x"]) == [one, two])
        #expect(KubeConfig.defaultPaths(environment: ["HOME": "/home/me"]) == ["/home/me/.kube/config"])
        _ = try directory.write("home/.kube/config", Self.second + "\n- name: prod\n  context: {cluster: prod, user: prod-user}\n")
        let config = try KubeConfig.resolve(environment: ["HOME": directory.path("home")])
        #expect(config.server == "https://prod.example:6443")
        #expect(throws: KubeError.self) { try KubeConfig.resolve(environment: ["HOME": directory.path("nowhere")]) }
    }

    @Test("in-cluster: server from the environment, CA, namespace and a token file that is re-read when it rotates")
    func inCluster() async throws {
        try await Harness.with(settings: DevCluster.Settings(bearerToken: "first-token")) { harness in
            let directory = try TemporaryDirectory()
            let tokenPath = try directory.write("sa/token", "first-token")
            _ = try directory.write("sa/namespace", "team-a\n")
            _ = try directory.write("sa/ca.crt", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
            var config = try KubeConfig.inCluster(environment: ["KUBERNETES_SERVICE_HOST": "10.0.0.1", "KUBERNETES_SERVICE_PORT": "443"],
                                                  serviceAccountDirectory: directory.path("sa"))
            #expect(config.server == "https://10.0.0.1:443" && config.namespace == "team-a")
            #expect(config.certificateAuthorityPEM != nil)

            // Point it at the dev cluster (plain HTTP) to watch the token rotate.
            config.server = harness.cluster.url
            config.certificateAuthorityPEM = nil
            let client = try KubeClient(config: config, retry: .init(maxAttempts: 1))
            #expect(try await client.get(.namespaces, name: "default").name == "default")
            try "rotated-token".write(toFile: tokenPath, atomically: true, encoding: .utf8)
            await expectKubeError(.unauthorized) { _ = try await client.get(.namespaces, name: "default") }
            try "first-token".write(toFile: tokenPath, atomically: true, encoding: .utf8)
            #expect(try await client.get(.namespaces, name: "default").name == "default")
            try await client.shutdown()
        }
    }

    @Test("the dev cluster's own kubeconfig, read back, reaches it (HTTPS, token and client certificate)")
    func devClusterKubeconfig() async throws {
        var settings = DevCluster.Settings(bearerToken: "t0ken", tls: try DevCluster.TLSMaterial.generate())
        settings.tls?.requireClientCertificate = true
        try await Harness.with(settings: settings) { harness in
            let file = try TemporaryFile(harness.cluster.kubeconfig(namespace: "kube-system"))
            let config = try KubeConfig.load(paths: [file.path])
            #expect(config.namespace == "kube-system" && config.server.hasPrefix("https://127.0.0.1:"))
            let client = try KubeClient(config: config)
            #expect(try await client.list(.namespaces).items.count >= 4)
            try await client.shutdown()
        }
    }

    @Test("exec plugins are read with client-go's checks, and a relative command is relative to its kubeconfig",
          arguments: [
            ("{command: aws}", "apiVersion is missing"),
            ("{apiVersion: client.authentication.k8s.io/v1, command: aws}", "interactiveMode must be set"),
            ("{apiVersion: client.authentication.k8s.io/v1, command: aws, interactiveMode: Sometimes}", "interactiveMode \"Sometimes\" is not one of"),
            ("{apiVersion: client.authentication.k8s.io/v1beta1}", "command is missing"),
            ("{apiVersion: client.authentication.k8s.io/v1beta1, command: aws, env: [{name: A}]}", "every env entry needs a name"),
            ("{apiVersion: client.authentication.k8s.io/v1beta1, command: aws, args: [{}]}", "args must be strings"),
          ])
    func execPluginConfiguration(exec: String, expected: String) throws {
        let directory = try TemporaryDirectory()
        let path = try directory.write("kube/config", Self.execConfig(exec))
        do {
            _ = try KubeConfig.load(paths: [path])
            Issue.record("accepted \(exec)")
        } catch let error as KubeError {
            #expect(error.message.hasPrefix(path + ": user \"me\": exec plugin: "), "\(error)")
            #expect(error.message.contains(expected), "\(error)")
        }
        let good = try directory.write("kube/good", Self.execConfig(
            "{apiVersion: client.authentication.k8s.io/v1beta1, command: bin/plugin, args: [a, b], env: [{name: K, value: v}], provideClusterInfo: true}"))
        let config = try KubeConfig.load(paths: [good])
        guard case .exec(let source) = config.credentials else { Issue.record("expected an exec plugin"); return }
        #expect(source.plugin.command == directory.path("kube/bin/plugin"))
        #expect(source.plugin.arguments == ["a", "b"] && source.plugin.environment.map(\.name) == ["K"])
        #expect(source.plugin.interactiveMode == .ifAvailable, "v1beta1's default")
        #expect(source.plugin.cluster?["server"]?.stringValue == "https://api.example:6443")
        #expect(source.plugin.cluster?["config"]?["audience"]?.stringValue == "cachet", "the cluster's exec extension is passed as config")
    }

    static func execConfig(_ exec: String) -> String {
        """
        apiVersion: v1
        kind: Config
        current-context: c
        clusters:
        - name: c
          cluster:
            server: https://api.example:6443
            extensions:
            - name: client.authentication.k8s.io/exec
              extension: {audience: cachet}
        contexts:
        - name: c
          context: {cluster: c, user: me}
        users:
        - name: me
          user:
            exec: \(exec)
        """
    }

    @Test("a plugin's answer is checked as client-go checks it, and no message quotes it")
    func execCredentialAnswers() throws {
        let plugin = try ExecPlugin(.object([("apiVersion", .string("client.authentication.k8s.io/v1")), ("command", .string("p")),
                                             ("interactiveMode", .string("Never"))]), userName: "me", directory: "/", where: "k")
        func parse(_ json: String) throws -> ExecCredential {
            try ExecCredentialSource.parse(Array(json.utf8), plugin: plugin, name: "p", generation: 1)
        }
        let v1 = #""apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential""#
        let good = try parse(#"{\#(v1),"status":{"token":"s3cret-tok","expirationTimestamp":"2030-01-02T03:04:05Z"}}"#)
        #expect(good.token == "s3cret-tok" && good.expiry != nil)
        #expect(try parse(#"{\#(v1),"status":{"token":"t","expirationTimestamp":"2030-01-02T03:04:05.123456Z"}}"#).expiry != nil)
        for (json, expected) in [
            ("not json s3cret-tok", "not a JSON object"),
            (#"{"apiVersion":"client.authentication.k8s.io/v1beta1","kind":"ExecCredential","status":{"token":"s3cret-tok"}}"#, "configured for client.authentication.k8s.io/v1"),
            (#"{\#(v1)}"#, "returned no status"),
            (#"{\#(v1),"status":{}}"#, "neither a token nor"),
            (#"{\#(v1),"status":{"clientCertificateData":"s3cret-tok"}}"#, "not both"),
            (#"{\#(v1),"status":{"token":"s3cret-tok\u000d\u000aX: y"}}"#, "control characters"),
            (#"{\#(v1),"status":{"token":"s3cret-tok","expirationTimestamp":"tomorrow"}}"#, "not an RFC 3339 time"),
        ] {
            #expect(throws: KubeError.self) { try parse(json) }
            do { _ = try parse(json) } catch let error as KubeError {
                #expect(error.message.contains(expected), "\(error)")
                #expect(!error.message.contains("s3cret-tok"), "\(error)")
            }
        }
    }

    @Test("--server and --token replace the kubeconfig's; --server alone needs no kubeconfig")
    func overrides() throws {
        let directory = try TemporaryDirectory()
        let one = try directory.write("one/config", Self.first)
        _ = try directory.write("one/certs/ca.pem", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
        let config = try KubeConfig.resolve(kubeconfig: one, overrides: .init(server: "https://other:6443", token: "given"))
        #expect(config.server == "https://other:6443" && config.namespace == "team-a")
        #expect(try KubeConfig.resolve(kubeconfig: one).tlsServerName == "api.dev")
        #expect(config.tlsServerName == nil, "tls-server-name named the kubeconfig's server, not --server's (client-go drops it too)")
        guard case .bearerToken(let token) = config.credentials else { Issue.record("expected the given token"); return }
        #expect(token == "given")
        let bare = try KubeConfig.resolve(overrides: .init(server: "https://bare:6443"), environment: ["HOME": directory.path("nowhere")])
        #expect(bare.server == "https://bare:6443" && bare.namespace == "default")
        #expect(throws: KubeError.self) { try KubeConfig.resolve(kubeconfig: one, overrides: .init(server: "ftp://x")) }
        #expect(throws: KubeError.self) { try KubeConfig.resolve(kubeconfig: one, overrides: .init(token: "two words")) }
        #expect(throws: KubeError.self) { try KubeConfig.resolve(kubeconfig: one, overrides: .init(server: "https://a\r\nX: y")) }

        // What goes into request lines and URLs is a plain name: no header injection through a kubeconfig.
        for (field, value) in [("tls-server-name", "\"api/evil@x\""), ("server", "\"https://api.example\\r\\nX-Injected: 1\"")] {
            let path = try directory.write("bad-\(field)/config", Self.first.replacingOccurrences(
                of: field == "server" ? "server: \"https://127.0.0.1:6443\"" : "tls-server-name: api.dev", with: "\(field): \(value)"))
            #expect(throws: KubeError.self) { try KubeConfig.resolve(kubeconfig: path) }
        }
    }

    @Test("proxies: proxy-url first, else HTTPS_PROXY / HTTP_PROXY unless NO_PROXY or a loopback host excludes the server")
    func proxies() throws {
        func proxy(_ server: String, _ environment: [String: String], url: String? = nil) throws -> String? {
            try ProxySetting.forServer(server, proxyURL: url, environment: environment).map { "\($0.host):\($0.port)" }
        }
        let env = ["HTTPS_PROXY": "http://proxy.corp:3128", "NO_PROXY": "internal.corp,.svc,10.0.0.0/8,api.example:8443"]
        #expect(try proxy("https://api.example:6443", env) == "proxy.corp:3128")
        #expect(try proxy("https://api.example:8443", env) == nil, "host:port entry")
        #expect(try proxy("https://k8s.internal.corp", env) == nil, "a domain covers its subdomains")
        #expect(try proxy("https://kubernetes.default.svc", env) == nil)
        #expect(try proxy("https://10.1.2.3:443", env) == nil, "CIDR")
        #expect(try proxy("https://127.0.0.1:6443", env) == nil && proxy("https://localhost:6443", env) == nil, "loopback")
        #expect(try proxy("https://[::ffff:127.0.0.1]:6443", env) == nil && proxy("https://[0:0:0:0:0:0:0:1]:6443", env) == nil, "loopback, other spellings")
        #expect(try proxy("https://[fd00::1]:6443", env) == "proxy.corp:3128")
        #expect(try proxy("http://api.example", env) == nil, "http servers use HTTP_PROXY")
        #expect(try proxy("http://api.example", ["http_proxy": "proxy:8080"]) == "proxy:8080")
        #expect(try proxy("https://api.example", ["HTTPS_PROXY": "http://p:1", "NO_PROXY": "*"]) == nil)
        #expect(try proxy("https://127.0.0.1:6443", [:], url: "http://user:pw@proxy.corp:3128") == "proxy.corp:3128", "proxy-url applies to any host")
        #expect(try ProxySetting(url: "http://user:pw@proxy.corp:3128", origin: "x").userInfo == "user:pw")
        #expect(throws: KubeError.self) { try ProxySetting(url: "socks5://proxy:1080", origin: "x") }
        #expect(throws: KubeError.self) { try ProxySetting(url: "http://:3128", origin: "x") }
        // A refusal names the proxy, never its user information (often a token), even with a `/` in the password.
        for url in ["http://squid:s3cret-pw@proxy.corp:99999", "http://squid:s3cret/pw@proxy.corp:99999/path"] {
            do {
                _ = try ProxySetting(url: url, origin: "proxy-url")
                Issue.record("a bad port was accepted: \(url)")
            } catch let error as KubeError {
                #expect(error.message == "proxy-url: ***@proxy.corp:99999 has a bad port", "\(error.message)")
            }
        }
        let slashed = try ProxySetting(url: "http://u:pa/ss%40x@proxy.corp:3128", origin: "x")
        #expect(slashed.host == "proxy.corp" && slashed.port == 3128 && slashed.userInfo == "u:pa/ss@x", "percent-decoded, as Go does")
        #expect(throws: KubeError.self) { try ProxySetting(url: "http://u:%0d%0aX@proxy:1", origin: "x") }
        // A CIDR out of range is no match, not a crash.
        #expect(try proxy("https://10.1.2.3", ["HTTPS_PROXY": "p:1", "NO_PROXY": "10.0.0.0/-1,10.0.0.0/33"]) == "p:1")

        // The controller's client uses a proxy only with the cluster's CA: behind a proxy its TLS library would also
        // accept a public certificate for the proxy's own address.
        var withoutCA = KubeConfig(server: "https://api.example:6443")
        withoutCA.proxyURL = "http://proxy.corp:3128"
        #expect(throws: KubeError.self) { _ = try KubeClient(config: withoutCA, environment: [:]) }
    }
}
