import CachetCrypto
import CachetKube
import CachetManifests
import CachetTestSupport
import Foundation
import Testing
@testable import CachetController

/// Bitnami's controller flags beyond the basics, each seen working on the dev cluster.
@Suite("controller: Bitnami's other flags")
struct ControllerFlagTests {
    func keySecrets(_ harness: ControllerHarness) async throws -> [ManifestValue] {
        try await harness.client.listAll(.secrets, namespace: ControllerHarness.namespace, labelSelector: "\(KeyManager.keyLabel)=active").items
    }

    @Test("--my-cn names generated certificates; --privatekey-labels and --privatekey-annotations go onto key Secrets")
    func generatedKeyFields() async throws {
        try await ControllerHarness.with(installKey: false, configure: {
            $0.keys.commonName = "sealed-secrets"
            $0.keys.secretLabels = ["team": "platform", KeyManager.keyLabel: "compromised"]
            $0.keys.secretAnnotations = ["example.com/owner": "sre"]
        }) { harness in
            try await eventually("a key Secret") { try await !keySecrets(harness).isEmpty }
            let key = try #require(try await keySecrets(harness).first)
            #expect(key.string(at: ["metadata", "labels", "team"]) == "platform")
            #expect(key.string(at: ["metadata", "labels", KeyManager.keyLabel]) == "active", "the key label is never overridden")
            #expect(key.string(at: ["metadata", "annotations", "example.com/owner"]) == "sre")
            let certificate = try Certificate(pem: try Base64.decode(try #require(key.string(at: ["data", "tls.crt"]))))
            #expect(certificate.subject == "CN=sealed-secrets" && certificate.issuer == "CN=sealed-secrets")
        }
        // Bitnami's default: an empty name.
        try await ControllerHarness.with(installKey: false) { harness in
            try await eventually("a key Secret") { try await !keySecrets(harness).isEmpty }
            let key = try #require(try await keySecrets(harness).first)
            #expect(try Certificate(pem: try Base64.decode(try #require(key.string(at: ["data", "tls.crt"])))).subject == "")
            #expect(key.value(at: ["metadata", "annotations"]) == nil)
        }
    }

    /// A key whose certificate is older than the fixture's, added after the controller started.
    static func olderKeySecret() throws -> (ManifestValue, RSAPrivateKey) {
        let key = try RSAPrivateKey.generate(bits: 2048)
        let fixture = try Certificate(pem: try Data(contentsOf: Repository.cryptoFixtures.appendingPathComponent("rsa2048.crt")))
        let certificate = try Certificate.selfSigned(for: key, notBefore: fixture.notBefore.addingTimeInterval(-86_400))
        return (try ControllerHarness.keySecret(name: "imported-key", key: key, certificatePEM: certificate.pem), key)
    }

    @Test("--key-order-priority: CertNotBefore keeps the newest certificate sealing; SecretCreationTimestamp the key added last",
          arguments: [KeyManager.KeyOrder.certificateNotBefore, .secretCreationTimestamp])
    func keyOrder(order: KeyManager.KeyOrder) async throws {
        try await ControllerHarness.with(configure: { $0.keys.order = order }) { harness in
            try await eventually("the fixture key") { harness.controller.keys.keyCount == 1 }
            // creationTimestamp has whole seconds: make sure the import is in a later one.
            try await Task.sleep(for: .milliseconds(1100))
            let (secret, key) = try Self.olderKeySecret()
            _ = try await harness.client.create(.secrets, secret, namespace: ControllerHarness.namespace)
            try await eventually("both keys") { harness.controller.keys.keyCount == 2 }
            let sealing = harness.controller.keys.newestSealingKey?.keyID
            #expect(sealing == (order == .certificateNotBefore ? FixtureKeys.sealingKey.keyID : key.keyID))
        }
    }

    @Test("--label-selector: only matching SealedSecrets are reconciled")
    func labelSelector() async throws {
        try await ControllerHarness.with(configure: { $0.reconciler.labelSelector = "tier=web" }) { harness in
            var matching = try ControllerHarness.sealed("web")
            matching.setValue(.stringMap(["tier": "web"]), at: ["metadata", "labels"])
            _ = try await harness.apply(matching)
            _ = try await harness.apply(ControllerHarness.sealed("unlabelled"))
            try await eventually("the matching one's Secret") { await harness.secret("web") != nil }
            try await Task.sleep(for: .milliseconds(300))
            #expect(await harness.secret("unlabelled") == nil)
        }
    }

    @Test("--skip-recreate: Secrets are not watched, so a deleted one comes back only with the next change")
    func skipRecreate() async throws {
        try await ControllerHarness.with(configure: { $0.reconciler.recreateDeletedSecrets = false }) { harness in
            _ = try await harness.apply(ControllerHarness.sealed("once"))
            try await eventually("the Secret") { await harness.secret("once") != nil }
            try await harness.client.delete(.secrets, name: "once", namespace: "team-a")
            try await Task.sleep(for: .milliseconds(500))
            #expect(await harness.secret("once") == nil)
            _ = try await harness.client.updateRetryingConflicts(.sealedSecrets, name: "once", namespace: "team-a") { object in
                object.setValue(try ControllerHarness.sealed("once", items: ["password": Support.canary, "token": "t"]).value(at: ["spec"]), at: ["spec"])
                return true
            }
            try await eventually("back after the change") { await harness.secret("once") != nil }
        }
    }

    @Test("--max-unseal-retries: a value no key opens stops being retried, and a key added later still brings it in")
    func maxUnsealRetries() async throws {
        let otherKey = try RSAPrivateKey.generate(bits: 2048)
        let otherCertificate = try Certificate.selfSigned(for: otherKey)
        try await ControllerHarness.with(configure: { $0.reconciler.maxRetries = 1 }) { harness in
            _ = try await harness.apply(ControllerHarness.sealed("stuck", sealingKey: try SealingKey(pem: Array(try otherCertificate.pem.utf8))))
            try await eventually("Synced=False") { try await harness.sealedSecret("stuck").synced?.status == "False" }
            // The first attempt and one retry fail; then nothing, however long it waits (retries start at 20 ms here).
            let errors = #"sealed_secrets_controller_unseal_errors_total{reason="unseal",namespace="team-a"} 2"#
            try await eventually("two unseal errors") {
                String(decoding: try await harness.request(harness.metricsURL + "/metrics").body, as: UTF8.self).contains(errors)
            }
            try await Task.sleep(for: .milliseconds(500))
            #expect(String(decoding: try await harness.request(harness.metricsURL + "/metrics").body, as: UTF8.self).contains(errors))
            #expect(await harness.controller.reconciler.queue.retrying.isEmpty)
            _ = try await harness.client.create(.secrets, ControllerHarness.keySecret(name: "restored-key", key: otherKey,
                                                                                      certificatePEM: try otherCertificate.pem),
                                                namespace: ControllerHarness.namespace)
            try await eventually("the Secret") { await harness.secret("stuck") != nil }
        }
    }

    @Test("--watch-for-secrets=false: a key Secret added later waits for a restart")
    func noKeyWatch() async throws {
        try await ControllerHarness.with(configure: { $0.keys.watchKeySecrets = false }) { harness in
            try await eventually("the fixture key") { harness.controller.keys.keyCount == 1 }
            _ = try await harness.client.create(.secrets, try Self.olderKeySecret().0, namespace: ControllerHarness.namespace)
            try await Task.sleep(for: .milliseconds(500))
            #expect(harness.controller.keys.keyCount == 1)
        }
    }
    /// A cluster whose keys were lost (or not yet restored from their backup) still has its SealedSecrets: a fresh key
    /// would open none of them, seal from then on, and be in no backup. The controller waits for the keys instead,
    /// and restoring them brings everything in; --force-new-key starts over.
    @Test("SealedSecrets but no key: no new key, a clear error, and restoring the backup converges; --force-new-key makes one", arguments: [false, true])
    func keysNotRestored(force: Bool) async throws {
        let harness = try await ControllerHarness.start(installKey: false, configure: { $0.keys.forceNewKey = force }, before: { client in
            _ = try await client.create(.sealedSecrets, try ControllerHarness.sealed("lost"), namespace: "team-a")
        }, waitForKeys: false)
        try await withCleanUp {
            if force {
                try await eventually("a new key") { harness.controller.keys.isReady }
                #expect(try await harness.client.listAll(.secrets, namespace: ControllerHarness.namespace).items.count == 1)
                return
            }
            try await Task.sleep(for: .seconds(1.5))
            #expect(!harness.controller.keys.isReady)
            #expect(try await harness.client.listAll(.secrets, namespace: ControllerHarness.namespace).items.isEmpty, "a key was made")
            #expect(harness.logs.text.contains("no sealing key, but SealedSecrets exist (team-a/lost, …)"), "\(harness.logs.text.suffix(2000))")
            // The backup restored (the key Secret as it was).
            _ = try await harness.client.create(.secrets, ControllerHarness.keySecret(name: "sealed-secrets-keyfixture"), namespace: ControllerHarness.namespace)
            try await eventually("the keys, then the Secret", timeout: .seconds(30)) {
                ControllerHarness.data(await harness.secret("lost")) == ["password": Support.canary]
            }
        } cleanUp: {
            await harness.close()
        }
    }
}
