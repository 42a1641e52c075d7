import CachetCrypto
import CachetTestSupport
import Foundation
import Testing
@testable import CachetManifests

struct UnsealerTests {
    static func sealedSecret(scope: SealingScope, annotations: String = "", templateAnnotations: String = "") throws -> String {
        let value = try EnvelopeV1.sealedValue(Array("s3cret".utf8), to: Support.privateKey.publicKey, scope: scope)
        return """
            apiVersion: bitnami.com/v1alpha1
            kind: SealedSecret
            metadata:
              name: app
              namespace: team-a
              annotations: {\(annotations)}
            spec:
              encryptedData:
                password: \(value)
              template:
                metadata:
                  annotations: {\(templateAnnotations)}
            """
    }

    func unseal(_ yaml: String, namespace: String? = nil) throws -> SecretManifest {
        try Unsealer(keyRing: Support.keyRing, namespace: namespace).unseal(SealedSecretManifest(try #require(Support.objects(yaml).first)))
    }

    @Test("the scope comes from the top-level annotations, never from the template (CVE-2026-22728)")
    func scopeFromTopLevelOnly() throws {
        let clusterWide = "\"sealedsecrets.bitnami.com/cluster-wide\": \"true\""
        #expect(Support.text(try unseal(Self.sealedSecret(scope: .clusterWide, annotations: clusterWide)).items["password"]) == "s3cret")
        // Claimed cluster-wide only in the template: opened as strict, so it must fail.
        Support.expectError(["cannot decrypt password", "scope strict (team-a/app)"]) {
            _ = try unseal(Self.sealedSecret(scope: .clusterWide, templateAnnotations: clusterWide))
        }
        // Only "true" counts.
        Support.expectError(["cannot decrypt password"]) {
            _ = try unseal(Self.sealedSecret(scope: .clusterWide, annotations: "\"sealedsecrets.bitnami.com/cluster-wide\": \"True\""))
        }
    }

    @Test("a value sealed for another name fails, naming the item and never the value")
    func wrongName() throws {
        Support.expectError(["spec.encryptedData", "cannot decrypt password", "wrong key, wrong scope"]) {
            _ = try unseal(Self.sealedSecret(scope: .strict(namespace: "team-a", name: "other")))
        }
    }

    @Test("a missing namespace comes from -n; without it a strict object cannot be opened")
    func namespace() throws {
        let yaml = try Self.sealedSecret(scope: .strict(namespace: "team-b", name: "app")).replacingOccurrences(of: "  namespace: team-a\n", with: "")
        #expect(try unseal(yaml, namespace: "team-b").metadata.namespace == "team-b")
        Support.expectError(["has no namespace", "pass -n"]) { _ = try unseal(yaml) }
    }

    @Test("template.data and the legacy spec.data are refused, not half-handled")
    func unsupportedFields() throws {
        let base = try Self.sealedSecret(scope: .strict(namespace: "team-a", name: "app"))
        Support.expectError(["spec.template.data", "not supported"]) {
            _ = try unseal(base + "\n    data:\n      config: \"{{ .password }}\"")
        }
        Support.expectError(["spec.data", "pre-v0.7"]) {
            _ = try unseal(base.replacingOccurrences(of: "  encryptedData:", with: "  data: AAAA\n  encryptedData:"))
        }
    }

    /// `seal` refuses item names Kubernetes would refuse; so must everything that reads SealedSecrets (unseal, render,
    /// the controller), or they write Secrets the API server rejects.
    @Test("item names Kubernetes refuses are refused in a SealedSecret too", arguments: ["a/b", "bad~key!", "..data", "."])
    func invalidItemNames(name: String) throws {
        let yaml = try Self.sealedSecret(scope: .strict(namespace: "team-a", name: "app"))
            .replacingOccurrences(of: "    password:", with: "    \"\(name)\":")
        Support.expectError(["spec.encryptedData", "item name \"\(name)\" is not valid"]) { _ = try unseal(yaml) }
    }

    /// Kubernetes bounds an object name at 253 characters in all, not 63 per dot-separated part.
    @Test("a valid name with a part longer than 63 characters seals and opens")
    func longNamePart() throws {
        let name = String(repeating: "a", count: 100) + ".example"
        let scope = SealingScope.strict(namespace: "team-a", name: name)
        try scope.validate()
        let yaml = try Self.sealedSecret(scope: scope).replacingOccurrences(of: "  name: app\n", with: "  name: \(name)\n")
        #expect(Support.text(try unseal(yaml).items["password"]) == "s3cret")
        #expect(throws: CachetCryptoError.self) { try SealingScope.validateName(String(repeating: "a", count: 254)) }
        #expect(throws: CachetCryptoError.self) { try SealingScope.validateName("a..b") }
    }

    @Test("the key ring tries only keys of the right size, hinted keys first")
    func keyRingOrder() throws {
        let other2048 = try RSAPrivateKey.generate(bits: 2048)
        let big = try RSAPrivateKey(pem: try SecureBytes(copying: Array(try String(contentsOf: Repository.root.appendingPathComponent("keys.example/tls.key"), encoding: .utf8).utf8)))
        let ring = KeyRing(keys: [big, other2048, Support.privateKey])
        #expect(ring.candidates(modulusBytes: 256, hints: []).map(\.keyID) == [other2048.keyID, Support.privateKey.keyID])
        #expect(ring.candidates(modulusBytes: 256, hints: [Support.privateKey.keyID]).map(\.keyID) == [Support.privateKey.keyID, other2048.keyID])
        let value = try EnvelopeV1.sealedValue([1], to: Support.privateKey.publicKey, scope: .clusterWide)
        #expect(try ring.open(sealedValue: value, scope: .clusterWide, item: "k").opening.keyID == Support.privateKey.keyID)
    }
}

/// Work done on request carries a budget of RSA operations; past it, values do not open.
struct OperationBudgetTests {
    @Test("a value no key opens costs one operation per key of its size, or the budget, whichever is less")
    func budget() throws {
        let keys = try (0..<3).map { _ in try RSAPrivateKey.generate(bits: 2048) }
        let stranger = try RSAPrivateKey.generate(bits: 2048)
        let ring = KeyRing(keys: keys)
        let value = try EnvelopeV1.sealedValue([1], to: stranger.publicKey, scope: .clusterWide)
        let unbounded = OperationBudget(limit: .max)
        #expect(throws: CachetCryptoError.self) { _ = try ring.open(sealedValue: value, scope: .clusterWide, item: "k", budget: unbounded) }
        #expect(unbounded.used == 3)
        let capped = OperationBudget(limit: 2)
        #expect(throws: CachetCryptoError.self) { _ = try ring.open(sealedValue: value, scope: .clusterWide, item: "k", budget: capped) }
        #expect(capped.used == 2)
        let opens = try EnvelopeV1.sealedValue([1], to: keys[2].publicKey, scope: .clusterWide)
        #expect(throws: CachetCryptoError.self) { _ = try ring.open(sealedValue: opens, scope: .clusterWide, item: "k", budget: OperationBudget(limit: 2)) }
        #expect(try ring.open(sealedValue: opens, scope: .clusterWide, item: "k", budget: OperationBudget(limit: 3)).opening.keyID == keys[2].keyID)
    }
}

/// The controller reads SealedSecrets from the API already parsed; the model must read them exactly as it reads the
/// same object from a file.
struct APIObjectTests {
    @Test("a SealedSecret from an API object reads and unseals as the same object read from its JSON")
    func sameAsParsed() throws {
        let yaml = try UnsealerTests.sealedSecret(scope: .namespaceWide(namespace: "team-a"),
                                                   annotations: "\"sealedsecrets.bitnami.com/namespace-wide\": \"true\"")
        let parsed = try SealedSecretManifest(try #require(Support.objects(yaml).first))
        let value = try ManifestValue(json: parsed.manifestValue.jsonBytes)
        let fromAPI = try SealedSecretManifest(apiObject: value)
        #expect(fromAPI.encryptedData == parsed.encryptedData)
        #expect(fromAPI.metadata.annotations == parsed.metadata.annotations)
        #expect(fromAPI.scopeKind == .namespaceWide)
        let secret = try Unsealer(keyRing: Support.keyRing).unseal(fromAPI)
        #expect(Support.text(secret.items["password"]) == "s3cret")
    }

    @Test("an API object that is not a valid SealedSecret is refused with the same message, with no position")
    func refusedAlike() throws {
        let value = ManifestValue.object([
            ("apiVersion", .string("bitnami.com/v1alpha1")), ("kind", .string("SealedSecret")),
            ("metadata", .object([("name", .string("app")), ("namespace", .string("team-a"))])),
            ("spec", .object([("encryptedData", .object([("../escape", .string("AAAA"))]))])),
        ])
        Support.expectError(["item name", "../escape"]) { _ = try SealedSecretManifest(apiObject: value) }
        // The same object read from its JSON fails with the same message; the API object's error names no position.
        var fromAPI: ManifestError?, fromJSON: ManifestError?
        do { _ = try SealedSecretManifest(apiObject: value) } catch { fromAPI = error }
        do { _ = try SealedSecretManifest(try #require(Support.objects(String(decoding: value.jsonBytes, as: UTF8.self)).first)) } catch {
            fromJSON = error as? ManifestError
        }
        #expect(fromAPI?.message != nil && fromAPI?.message == fromJSON?.message)
        #expect(fromAPI.map { !$0.description.contains(":0:") } == true, "\(String(describing: fromAPI))")
    }
}

/// Format v2 in the unsealer: mixed objects, and what a ring of many keys costs per value.
struct UnsealerV2Tests {
    static let items = (0..<10).map { "item-\($0)" }

    /// A SealedSecret with ten v2 items (to one held identity and two others) and one v1 item.
    static func mixed(held: AgeIdentity, others: [AgeIdentity], keepSealedBy: Bool) throws -> SealedSecretManifest {
        let secret = SecretManifest(
            metadata: ObjectMeta(name: "app", namespace: "team-a"),
            items: try Dictionary(uniqueKeysWithValues: items.map { ($0, try SecureBytes(copying: Array("value of \($0)".utf8))) }),
            type: nil, immutable: nil)
        let sealer = Sealer(target: .recipients(others.prefix(1).map(\.recipient) + [held.recipient] + others.dropFirst().map(\.recipient)))
        var sealed = try sealer.seal(secret).sealedSecret
        var data = sealed.encryptedData
        data["legacy"] = try EnvelopeV1.sealedValue(Array("v1 value".utf8), to: Support.privateKey.publicKey, scope: .strict(namespace: "team-a", name: "app"))
        var metadata = sealed.metadata
        if !keepSealedBy { metadata.annotations[Annotations.sealedBy] = nil }
        sealed = SealedSecretManifest(metadata: metadata, encryptedData: data, template: sealed.template)
        return sealed
    }

    @Test("v1 and v2 values open side by side; with the sealed-by hint each v2 value costs one X25519 operation")
    func mixedAndCheap() throws {
        let ring = try (0..<4).map { _ in try AgeIdentity.generate() }
        let others = try (0..<2).map { _ in try AgeIdentity.generate() }
        let keyRing = KeyRing(keys: [Support.privateKey], ageIdentities: ring)
        for keepSealedBy in [true, false] {
            let sealed = try Self.mixed(held: ring[2], others: others, keepSealedBy: keepSealedBy)
            let budget = OperationBudget(limit: 1000)
            var unsealer = Unsealer(keyRing: keyRing)
            unsealer.budget = budget
            let secret = try unsealer.unsealAll([sealed], jobs: 1)[0].get()
            for item in Self.items { #expect(Support.text(secret.items[item]) == "value of \(item)") }
            #expect(Support.text(secret.items["legacy"]) == "v1 value")
            if keepSealedBy {
                // sealed-by names the held identity at its stanza's place: 10 X25519 operations and one RSA.
                #expect(budget.used == 11)
            } else {
                // Without it, the first value tries identities in ring order (3 stanzas each for the two before the
                // right one, then its stanza); every later value goes straight to the identity and stanza that opened.
                #expect(budget.used == 3 + 3 + 2 + 9 + 1)
            }
        }
    }

    @Test("a sealed-by annotation of 40,000 ids is read for its first 512 distinct ones; the value still opens")
    func hugeSealedBy() throws {
        let identity = try AgeIdentity.generate()
        var sealed = try Self.mixed(held: identity, others: [], keepSealedBy: true)
        let fake = (0..<40_000).map { String(format: "%016x", $0 % 1000) }.joined(separator: ",")
        sealed.metadata.annotations[Annotations.sealedBy] = fake + "," + identity.keyID.hex
        #expect(sealed.sealedBy.count == 512)
        let budget = OperationBudget(limit: 1000)
        var unsealer = Unsealer(keyRing: KeyRing(keys: [Support.privateKey], ageIdentities: [identity]))
        unsealer.budget = budget
        let secret = try unsealer.unseal(sealed)
        #expect(Support.text(secret.items["item-0"]) == "value of item-0")
    }

    @Test("an object whose v2 values no held identity opens names the items and the kind of key missing")
    func noIdentity() throws {
        let sealed = try Self.mixed(held: try AgeIdentity.generate(), others: [], keepSealedBy: true)
        Support.expectError(["cannot decrypt item-0, item-1", "with no key of their kind"]) {
            _ = try Unsealer(keyRing: Support.keyRing).unseal(sealed)
        }
    }
}
