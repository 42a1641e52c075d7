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
          user: {exec: {command: aws}}
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
            #expect(error.message.contains("exec or auth-provider plugin"))
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
}
