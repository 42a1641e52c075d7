import CachetDevCluster
import CachetKube
import CachetManifests
import CachetTestSupport
import Foundation
import Synchronization
import Testing

/// Kubeconfig exec credential plugins (EKS, GKE, AKS, OIDC) against a dev cluster that accepts only the tokens the
/// test's plugin hands out: the token is really sent, cached, run again after expiry and after a 401.
@Suite("exec credential plugins")
struct ExecCredentialTests {
    /// A cluster accepting the plugin's tokens (and the harness's own), and a client from the plugin's kubeconfig.
    /// The time the plugin's credentials are checked against: moved by the test, so expiry does not depend on load.
    final class Clock: Sendable {
        private let time = Mutex(Date())
        var now: Date { time.withLock { $0 } }
        func advance(by seconds: TimeInterval) { time.withLock { $0 += seconds } }
    }

    static func with(_ plugin: CredentialPlugin, clock: Clock = Clock(), _ body: (Harness, KubeClient) async throws -> Void) async throws {
        // TLS: a plugin's credential is never sent in clear (kubectl would not run the plugin for http:// at all).
        var settings = DevCluster.Settings(bearerToken: "harness-token", tls: try DevCluster.TLSMaterial.generate())
        settings.bearerTokenFile = plugin.accepted
        try await Harness.with(settings: settings) { harness in
            let kubeconfig = try TemporaryFile(plugin.kubeconfig(server: harness.cluster.url, certificateAuthority: settings.tls?.certificateAuthorityPEM,
                                                                 namespace: "team-a"))
            var config = try KubeConfig.load(paths: [kubeconfig.path], context: "plugin")
            #expect(config.namespace == "team-a")
            let source = try #require(try config.execSource())
            config.credentials = .exec(ExecCredentialSource(source.plugin, now: { clock.now }))
            let client = try KubeClient(config: config, retry: .init(maxAttempts: 2, maxDelay: .milliseconds(50), baseDelay: .milliseconds(10)))
            try await withCleanUp { try await body(harness, client) } cleanUp: { try? await client.shutdown() }
        }
    }

    @Test("the token is sent, cached across requests (and concurrent ones), and the plugin gets its input and env")
    func cachedToken() async throws {
        let plugin = try CredentialPlugin()
        try await Self.with(plugin) { harness, client in
            #expect(try await client.get(.namespaces, name: "default").name == "default")
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<20 { group.addTask { _ = try await client.list(.namespaces) } }
                try await group.waitForAll()
            }
            #expect(plugin.runs == 1, "one run serves every request until the token is refused or expires")
            let info = try ManifestValue(json: Array(plugin.execInfo.utf8))
            #expect(info["kind"]?.stringValue == "ExecCredential" && info["apiVersion"]?.stringValue == "client.authentication.k8s.io/v1")
            #expect(info.value(at: ["spec", "interactive"]) == .bool(false), "interactiveMode Never")
            #expect(info.string(at: ["spec", "cluster", "server"]) == harness.cluster.url, "provideClusterInfo")
            #expect(plugin.mark == "from-kubeconfig")

            // A watch carries the token too.
            var events = client.watch(.namespaces, resourceVersion: "0", timeoutSeconds: 1).makeAsyncIterator()
            _ = try await events.next()
        }
    }

    @Test("a refused token (401) runs the plugin again and the request is repeated once; an expired one is replaced before use")
    func refreshes() async throws {
        let plugin = try CredentialPlugin(token: "token-1")
        let clock = Clock()
        try await Self.with(plugin, clock: clock) { _, client in
            _ = try await client.get(.namespaces, name: "default")
            // The identity provider revokes token-1 and issues token-2.
            try plugin.setToken("token-2", accepted: ["token-2"])
            #expect(try await client.get(.namespaces, name: "default").name == "default")
            #expect(plugin.runs == 2)

            // Next, a token that says when it expires: used until then, replaced after, without a 401.
            try plugin.setToken("token-3", accepted: ["token-2", "token-3"])
            try plugin.setExpiry(clock.now.addingTimeInterval(60))
            try plugin.setToken("token-3", accepted: ["token-3"])  // token-2 revoked: the next request gets 401, then token-3
            _ = try await client.get(.namespaces, name: "default")
            #expect(plugin.runs == 3)
            _ = try await client.get(.namespaces, name: "default")
            #expect(plugin.runs == 3, "token-3 is cached until it expires")
            clock.advance(by: 61)
            try plugin.setToken("token-4", accepted: ["token-3", "token-4"])
            try plugin.setExpiry(nil)
            _ = try await client.get(.namespaces, name: "default")
            #expect(plugin.runs == 4, "an expired token is replaced before the request, though the server still took it")

            // A plugin whose token the server never takes: one rerun, then the 401 stands.
            try plugin.setToken("token-5", accepted: ["other"])
            await expectKubeError(.unauthorized) { _ = try await client.get(.namespaces, name: "default") }
            #expect(plugin.runs == 5)
        }
    }

    @Test("a failing plugin, a missing one, and interactiveMode Always without a terminal fail as kubectl's do")
    func failures() async throws {
        let plugin = try CredentialPlugin()
        try plugin.setFailing(true)
        try await Self.with(plugin) { _, client in
            do {
                _ = try await client.get(.namespaces, name: "default")
                Issue.record("a failing plugin gave a credential")
            } catch let error as KubeError {
                #expect(error.message == "getting credentials: exec: executable credential-plugin failed with exit code 3", "\(error)")
            }
        }
        for (command, mode, expected, hint) in [
            ("no-such-credential-plugin", "Never", "getting credentials: exec: executable no-such-credential-plugin not found",
             "install credential-plugin from your identity team's page"),
            (plugin.path, "Always", "runs only interactively (interactiveMode Always), and standard input is not a terminal", nil),
        ] {
            let kubeconfig = try TemporaryFile(plugin.kubeconfig(server: "https://127.0.0.1:1", command: command, interactiveMode: mode))
            let client = try KubeClient(config: try KubeConfig.load(paths: [kubeconfig.path], context: "plugin"), retry: .init(maxAttempts: 1))
            do {
                _ = try await client.get(.namespaces, name: "default")
                Issue.record("\(command) gave a credential")
            } catch let error as KubeError {
                #expect(error.message.contains(expected), "\(error)")
                #expect(error.hint == hint)
            }
            try await client.shutdown()
        }
        // Over plain http the plugin is not even run: its credential would cross the network in clear.
        let plain = try TemporaryFile(plugin.kubeconfig(server: "http://127.0.0.1:1"))
        let client = try KubeClient(config: try KubeConfig.load(paths: [plain.path], context: "plugin"), retry: .init(maxAttempts: 1))
        let runs = plugin.runs
        do {
            _ = try await client.get(.namespaces, name: "default")
            Issue.record("an exec credential went to an http:// server")
        } catch let error as KubeError {
            #expect(error.message.contains("sent only over https://"), "\(error)")
        }
        #expect(plugin.runs == runs)
        try await client.shutdown()
    }

    @Test("kubectl accepts the same plugin and kubeconfig (the test's plugin speaks the real protocol)")
    func kubectlAgrees() async throws {
        guard Repository.kubectl != nil else { return }
        let plugin = try CredentialPlugin()
        var settings = DevCluster.Settings(bearerToken: "harness-token", tls: try DevCluster.TLSMaterial.generate())
        settings.bearerTokenFile = plugin.accepted
        try await Harness.with(settings: settings) { harness in
            let kubeconfig = try TemporaryFile(plugin.kubeconfig(server: harness.cluster.url, certificateAuthority: settings.tls?.certificateAuthorityPEM))
            let result = try await Kubectl.run(["--context", "plugin", "get", "namespaces", "-o", "name"], kubeconfig: kubeconfig.path)
            #expect(result.status == 0, "\(result.error)")
            #expect(result.output.contains(Data("namespace/default".utf8)))
            try plugin.setFailing(true)
            try plugin.setToken("token-1", accepted: [])
            let refused = try await Kubectl.run(["--context", "plugin", "get", "namespaces"], kubeconfig: kubeconfig.path)
            #expect(refused.status != 0 && refused.error.contains("exit code 3"), "\(refused.error)")
        }
    }
}
