import CachetCrypto
import CachetDevCluster
import CachetKube
import CachetManifests
import CachetTestSupport
import Foundation
import Testing
@testable import CachetController

/// `cachet-controller run`'s reconciler against the dev API server: Bitnami's semantics, one by one.
@Suite("controller: reconciling SealedSecrets")
struct ReconcilerTests {
    @Test("a SealedSecret becomes its Secret: owner reference, label, type, immutable; Synced and observedGeneration; an Unsealed event")
    func createsSecret() async throws {
        try await ControllerHarness.with { harness in
            let sealed = try await harness.apply(ControllerHarness.sealed("db", items: ["password": Support.canary, "username": "app"],
                                                                          type: "kubernetes.io/basic-auth", immutable: true))
            try await eventually("the Secret exists") { await harness.secret("db") != nil }
            let secret = try #require(await harness.secret("db"))
            #expect(ControllerHarness.data(secret) == ["password": Support.canary, "username": "app"])
            #expect(secret.string(at: ["type"]) == "kubernetes.io/basic-auth")
            #expect(secret.value(at: ["immutable"]) == .bool(true))
            #expect(secret.string(at: ["metadata", "labels", Reconciler.managedLabel]) == "cachet-controller")
            let owner = try #require(secret.value(at: ["metadata", "ownerReferences"])?.arrayValue?.first)
            #expect(owner["kind"]?.stringValue == "SealedSecret" && owner["name"]?.stringValue == "db")
            #expect(owner["uid"] == sealed.value(at: ["metadata", "uid"]) && owner["controller"] == .bool(true))

            try await eventually("Synced=True") { try await harness.sealedSecret("db").synced?.status == "True" }
            let status = try await harness.sealedSecret("db")
            #expect(status.value(at: ["status", "observedGeneration"]) == status.value(at: ["metadata", "generation"]))
            let events = try await harness.events()
            #expect(events.contains { $0["reason"]?.stringValue == "Unsealed" && $0.string(at: ["involvedObject", "name"]) == "db" })
            #expect(!events.contains { $0.jsonBytes.containsSequence(Array(Support.canary.utf8)) })
        }
    }

    @Test("skip-set-owner-references: the Secret gets no owner reference")
    func skipOwnerReferences() async throws {
        try await ControllerHarness.with { harness in
            _ = try await harness.apply(ControllerHarness.sealed("loose", annotations: [Annotations.skipSetOwnerReferences: "true"]))
            try await eventually("the Secret exists") { await harness.secret("loose") != nil }
            #expect(await harness.secret("loose")?.value(at: ["metadata", "ownerReferences"]) == nil)
        }
    }

    @Test("a Secret it does not own is left alone: Synced=False, an ErrUpdateFailed event, the unmanaged metric")
    func unmanagedSecret() async throws {
        try await ControllerHarness.with { harness in
            _ = try await harness.client.create(.secrets, Self.plainSecret("taken", data: ["other": "keep-me"]), namespace: "team-a")
            _ = try await harness.apply(ControllerHarness.sealed("taken"))
            try await eventually("Synced=False") { try await harness.sealedSecret("taken").synced?.status == "False" }
            let synced = try #require(try await harness.sealedSecret("taken").synced)
            #expect(synced.message == "Resource \"taken\" already exists and is not managed by SealedSecret")
            #expect(ControllerHarness.data(await harness.secret("taken")) == ["other": "keep-me"])
            try await eventually("a Warning event") {
                try await harness.events().contains { $0["reason"]?.stringValue == "ErrUpdateFailed" && $0["type"]?.stringValue == "Warning" }
            }
            let metrics = try await harness.request(harness.metricsURL + "/metrics")
            #expect(String(decoding: metrics.body, as: UTF8.self)
                .contains(#"sealed_secrets_controller_unseal_errors_total{reason="unmanaged",namespace="team-a"}"#))
            #expect(String(decoding: metrics.body, as: UTF8.self)
                .contains(#"sealed_secrets_controller_condition_info{namespace="team-a",name="taken",condition="Synced",ss_app_kubernetes_io_instance=""} -1"#))
        }
    }

    @Test("managed: an existing Secret is taken over and replaced; patch: keys are merged, others kept")
    func managedAndPatch() async throws {
        try await ControllerHarness.with { harness in
            _ = try await harness.client.create(.secrets, Self.plainSecret("adopt", data: ["old": "x"], annotations: [Annotations.managed: "true"]),
                                                namespace: "team-a")
            _ = try await harness.client.create(.secrets, Self.plainSecret("merge", data: ["old": "x", "password": "stale"],
                                                                           annotations: [Annotations.patch: "true"]), namespace: "team-a")
            _ = try await harness.apply(ControllerHarness.sealed("adopt"))
            _ = try await harness.apply(ControllerHarness.sealed("merge"))
            try await eventually("adopted") { ControllerHarness.data(await harness.secret("adopt")) == ["password": Support.canary] }
            #expect(await harness.secret("adopt")?.value(at: ["metadata", "ownerReferences"]) != nil)
            try await eventually("merged") {
                ControllerHarness.data(await harness.secret("merge")) == ["old": "x", "password": Support.canary]
            }
            // Patch without managed: no owner reference (Bitnami's rule).
            #expect(await harness.secret("merge")?.value(at: ["metadata", "ownerReferences"]) == nil)
            #expect(await harness.secret("merge")?.string(at: ["metadata", "annotations", Annotations.patch]) == "true")
        }
    }

    @Test("a deleted Secret is recreated; a changed spec updates the Secret and observedGeneration")
    func recreateAndUpdate() async throws {
        try await ControllerHarness.with { harness in
            _ = try await harness.apply(ControllerHarness.sealed("cycle"))
            try await eventually("the Secret exists") { await harness.secret("cycle") != nil }
            try await harness.client.delete(.secrets, name: "cycle", namespace: "team-a")
            try await eventually("the Secret is back") { await harness.secret("cycle") != nil }

            try await eventually("Synced") { try await harness.sealedSecret("cycle").synced?.status == "True" }
            _ = try await harness.client.updateRetryingConflicts(.sealedSecrets, name: "cycle", namespace: "team-a") { object in
                let next = try ControllerHarness.sealed("cycle", items: ["password": Support.canary, "token": "t2"])
                object.setValue(next.value(at: ["spec"]), at: ["spec"])
                return true
            }
            try await eventually("the new item is in the Secret") { ControllerHarness.data(await harness.secret("cycle"))["token"] == "t2" }
            try await eventually("observedGeneration 2") {
                try await harness.sealedSecret("cycle").value(at: ["status", "observedGeneration"]) == .number("2")
            }
        }
    }

    @Test("status is written only when it changes: resyncs of a synced object write nothing")
    func statusOnlyOnChange() async throws {
        try await ControllerHarness.with(configure: { $0.reconciler.resyncPeriod = .milliseconds(100) }) { harness in
            _ = try await harness.apply(ControllerHarness.sealed("quiet"))
            try await eventually("Synced") { try await harness.sealedSecret("quiet").synced?.status == "True" }
            let before = try await harness.sealedSecret("quiet").resourceVersion
            let secretBefore = await harness.secret("quiet")?.resourceVersion
            try await Task.sleep(for: .milliseconds(600))  // several resyncs
            #expect(try await harness.sealedSecret("quiet").resourceVersion == before)
            #expect(await harness.secret("quiet")?.resourceVersion == secretBefore)
        }
    }

    @Test("a value it cannot open: Synced=False, ErrUnsealFailed without values, Secret untouched; a key added later is picked up without a restart")
    func unsealFailureThenNewKey() async throws {
        let otherKey = try RSAPrivateKey.generate(bits: 2048)
        let otherCertificate = try Certificate.selfSigned(for: otherKey)
        let otherSealingKey = try SealingKey(pem: Array(try otherCertificate.pem.utf8))
        try await ControllerHarness.with { harness in
            _ = try await harness.client.create(.secrets, Self.plainSecret("later", data: ["password": "previous"],
                                                                           annotations: [Annotations.managed: "true"]), namespace: "team-a")
            _ = try await harness.apply(ControllerHarness.sealed("later", sealingKey: otherSealingKey))
            try await eventually("Synced=False") { try await harness.sealedSecret("later").synced?.status == "False" }
            #expect(try await harness.sealedSecret("later").synced?.message.hasPrefix("Failed to unseal") == true)
            #expect(ControllerHarness.data(await harness.secret("later")) == ["password": "previous"])
            try await eventually("an ErrUnsealFailed event") {
                try await harness.events().contains { $0["reason"]?.stringValue == "ErrUnsealFailed" }
            }
            // Someone installs the missing key: the controller notices and converges.
            _ = try await harness.client.create(.secrets, ControllerHarness.keySecret(name: "restored-key", key: otherKey,
                                                                                      certificatePEM: try otherCertificate.pem),
                                                namespace: ControllerHarness.namespace)
            try await eventually("the Secret has the value") { ControllerHarness.data(await harness.secret("later")) == ["password": Support.canary] }
            try await eventually("Synced=True") { try await harness.sealedSecret("later").synced?.status == "True" }
            #expect(harness.controller.keys.keyCount == 2)
        }
    }

    @Test("a strict value moved to another name or namespace does not open")
    func scopeIsEnforced() async throws {
        try await ControllerHarness.with { harness in
            var moved = try ControllerHarness.sealed("original")
            moved.setValue(.string("renamed"), at: ["metadata", "name"])
            moved.setValue(.string("renamed"), at: ["spec", "template", "metadata", "name"])
            _ = try await harness.apply(moved)
            var otherNamespace = try ControllerHarness.sealed("original")
            otherNamespace.setValue(.string("team-b"), at: ["metadata", "namespace"])
            _ = try await harness.apply(otherNamespace)
            try await eventually("both fail") {
                let renamed = try await harness.sealedSecret("renamed").synced?.status
                let moved = try await harness.sealedSecret("original", namespace: "team-b").synced?.status
                return renamed == "False" && moved == "False"
            }
            #expect(await harness.secret("renamed") == nil)
            #expect(await harness.secret("original", namespace: "team-b") == nil)
        }
    }

    @Test("only the given namespaces are watched")
    func namespaceList() async throws {
        try await ControllerHarness.with(configure: { $0.reconciler.namespaces = ["team-b"] }) { harness in
            _ = try await harness.apply(ControllerHarness.sealed("ignored", namespace: "team-a"))
            _ = try await harness.apply(ControllerHarness.sealed("served", namespace: "team-b"))
            try await eventually("team-b's Secret") { await harness.secret("served", namespace: "team-b") != nil }
            try await Task.sleep(for: .milliseconds(300))
            #expect(await harness.secret("ignored") == nil)
        }
    }

    @Test("a generated key is stored as Bitnami's: kubernetes.io/tls, the active label, generateName from the prefix; cert.pem serves it")
    func generatesKey() async throws {
        try await ControllerHarness.with(installKey: false) { harness in
            try await eventually("a key Secret") {
                try await !harness.client.listAll(.secrets, namespace: ControllerHarness.namespace, labelSelector: "\(KeyManager.keyLabel)=active").items.isEmpty
            }
            let keys = try await harness.client.listAll(.secrets, namespace: ControllerHarness.namespace, labelSelector: "\(KeyManager.keyLabel)=active").items
            #expect(keys.count == 1)
            let key = try #require(keys.first)
            #expect(key.string(at: ["type"]) == "kubernetes.io/tls")
            #expect(key.string(at: ["metadata", "name"])?.hasPrefix("sealed-secrets-key") == true)
            let certificate = try #require(key.string(at: ["data", "tls.crt"]).map { try Base64.decode($0) })
            try await eventually("cert.pem") { try await harness.request(harness.apiURL + "/v1/cert.pem").status == 200 }
            let served = try await harness.request(harness.apiURL + "/v1/cert.pem")
            #expect(served.body == certificate)
            #expect(served.header("Content-Type") == "application/x-pem-file")
        }
    }

    @Test("renewal: a new key on schedule seals; every key still unseals")
    func renewal() async throws {
        try await ControllerHarness.with(configure: { $0.keys.renewPeriod = .milliseconds(700) }) { harness in
            _ = try await harness.apply(ControllerHarness.sealed("old-key"))
            try await eventually("a second key") { harness.controller.keys.keyCount >= 2 }
            let served = try await harness.request(harness.apiURL + "/v1/cert.pem")
            let newest = try SealingKey(pem: served.body)
            #expect(newest.keyID != FixtureKeys.sealingKey.keyID)
            _ = try await harness.apply(ControllerHarness.sealed("new-key", sealingKey: newest))
            try await eventually("both Secrets") {
                let old = await harness.secret("old-key"), new = await harness.secret("new-key")
                return old != nil && new != nil
            }
        }
    }

    @Test("key cutoff: a key older than --key-cutoff-time makes a new one at start-up")
    func cutoff() async throws {
        try await ControllerHarness.with(configure: { $0.keys.cutoff = Date() }) { harness in
            try await eventually("a second key") { harness.controller.keys.keyCount == 2 }
            #expect(harness.controller.keys.newestSealingKey?.keyID != FixtureKeys.sealingKey.keyID)
        }
    }

    @Test("a labelled Secret that is not a usable key is skipped, not a crash")
    func badKeySecret() async throws {
        try await ControllerHarness.with { harness in
            var bad = try ControllerHarness.keySecret(name: "broken-key")
            bad.setValue(.string(Base64.encode(Array("not a key".utf8))), at: ["data", "tls.key"])
            _ = try await harness.client.create(.secrets, bad, namespace: ControllerHarness.namespace)
            _ = try await harness.apply(ControllerHarness.sealed("after-bad-key"))
            try await eventually("the Secret") { await harness.secret("after-bad-key") != nil }
            #expect(harness.controller.keys.keyCount == 1)
            #expect(harness.logs.text.contains("could not be read; skipped"))
        }
    }

    static func plainSecret(_ name: String, data: [String: String], annotations: [String: String] = [:]) -> ManifestValue {
        var metadata: [(String, ManifestValue)] = [("name", .string(name)), ("namespace", .string("team-a"))]
        if !annotations.isEmpty { metadata.append(("annotations", .stringMap(annotations))) }
        return .object([("apiVersion", .string("v1")), ("kind", .string("Secret")), ("metadata", .object(metadata)),
                        ("data", .stringMap(data.mapValues { Base64.encode(Array($0.utf8)) }))])
    }
}

extension Array where Element == UInt8 {
    func containsSequence(_ needle: [UInt8]) -> Bool {
        guard !needle.isEmpty, needle.count <= count else { return false }
        return (0...(count - needle.count)).contains { Array(self[$0..<$0 + needle.count]) == needle }
    }
}

/// Objects a hostile API server could send: none may crash the controller.
struct HostileObjectKeyTests {
    @Test("objects without a name or namespace have no key; splitting any key is total")
    func keys() {
        let object = { (name: String?, namespace: String?) -> ManifestValue in
            var metadata: [(String, ManifestValue)] = []
            if let name { metadata.append(("name", .string(name))) }
            if let namespace { metadata.append(("namespace", .string(namespace))) }
            return .object([("metadata", .object(metadata))])
        }
        #expect(Reconciler.key(object("", nil)) == nil)
        #expect(Reconciler.key(object("", "")) == nil)
        #expect(Reconciler.key(object("x", nil)) == nil)
        #expect(Reconciler.key(object(nil, "ns")) == nil)
        #expect(Reconciler.key(object("x", "ns")) == "ns/x")
        for key in ["/", "", "a", "/x", "x/", "a/b/c"] { _ = Reconciler.split(key) }
        #expect(Reconciler.split("a/b/c") == ("a", "b/c"))
    }
}
