import CachetCrypto
import CachetDevCluster
import CachetKube
import CachetManifests
import CachetTestSupport
import Foundation
import Logging
import Testing
@testable import CachetController

/// Corners of the controller found by trying it (issue 10, item 16).
@Suite("controller: corners")
struct ReconcilerCornerTests {
    static func metrics(_ harness: ControllerHarness) async throws -> String {
        String(decoding: try await harness.request(harness.metricsURL + "/metrics").body, as: UTF8.self)
    }

    /// A Secret that appeared between the controller's GET and its create was reported as a failure (event, metric,
    /// Synced=False) although the retry then succeeded.
    @Test("a Secret created by someone else just before the controller's create: no failure is reported")
    func createRace() async throws {
        try await ControllerHarness.with { harness in
            harness.cluster.failNextRequests(1, status: 409, method: "POST", path: "/secrets", afterApplying: true)
            _ = try await harness.apply(ControllerHarness.sealed("raced"))
            try await eventually("Synced=True") { try await harness.sealedSecret("raced").synced?.status == "True" }
            #expect(ControllerHarness.data(await harness.secret("raced")) == ["password": Support.canary])
            #expect(!(try await Self.metrics(harness)).contains("unseal_errors_total{"), "a failure was counted")
            #expect(!(try await harness.events()).contains { $0["type"]?.stringValue == "Warning" })
        }
    }

    /// A failed reconcile whose status write also failed was counted twice in unseal_errors_total.
    @Test("a failure whose status cannot be written is counted once, under its own reason")
    func countedOnce() async throws {
        try await ControllerHarness.with { harness in
            harness.cluster.failNextRequests(3, status: 500, method: "PUT", path: "/status")
            let stranger = try SealingKey(pem: Array(try Certificate.selfSigned(for: RSAPrivateKey.generate(bits: 2048)).pem.utf8))
            _ = try await harness.apply(ControllerHarness.sealed("unopenable", sealingKey: stranger))
            try await eventually("Synced=False") { try await harness.sealedSecret("unopenable").synced?.status == "False" }
            let text = try await Self.metrics(harness)
            #expect(text.contains(#"unseal_errors_total{reason="unseal",namespace="team-a"}"#))
            #expect(!text.contains(#"reason="status""#), "\(text)")
        }
    }

    /// With --key-cutoff-time, the old certificate was served for a second or two after start, while the new key was
    /// being made.
    @Test("key cutoff: the certificate served is the new key's from the first answer on")
    func cutoffNeverServesTheOldKey() async throws {
        try await ControllerHarness.with(configure: { $0.keys.cutoff = Date() }) { harness in
            var answers = 0
            while answers < 20 {
                let response = try await harness.request(harness.apiURL + "/v1/cert.pem")
                guard response.status == 200 else {
                    #expect(response.status == 503)
                    continue
                }
                answers += 1
                let served = try Certificate(pem: response.body)
                #expect(served.keyID != FixtureKeys.sealingKey.keyID, "the old key's certificate was served")
            }
            #expect(harness.controller.keys.newestSealingKey?.keyID != FixtureKeys.sealingKey.keyID)
        }
    }

    /// Two keys whose certificates start in the same second: which one seals used to depend on list order.
    @Test("keys with the same notBefore: the sealing key does not depend on the order they are loaded in")
    func tieBreak() async throws {
        let first = try RSAPrivateKey.generate(bits: 2048), second = try RSAPrivateKey.generate(bits: 2048)
        let notBefore = Date()
        let secrets = try [first, second].enumerated().map { index, key in
            try ControllerHarness.keySecret(name: "key-\(index)", key: key,
                                            certificatePEM: Certificate.selfSigned(for: key, notBefore: notBefore).pem)
        }
        var chosen: Set<KeyID> = []
        let client = try KubeClient(config: .init(server: "http://127.0.0.1:9"))  // never used: register reads nothing
        for order in [secrets, secrets.reversed()] {
            let manager = KeyManager(client: client, settings: .init(namespace: "kube-system"),
                                     logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() })
            for secret in order { #expect(manager.register(secret)) }
            chosen.insert(try #require(manager.newest?.privateKey.keyID))
        }
        try await client.shutdown()
        #expect(chosen.count == 1)
    }
}
