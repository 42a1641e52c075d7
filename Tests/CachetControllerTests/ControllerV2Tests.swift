import CachetCrypto
import CachetKube
import CachetManifests
import CachetTestSupport
import Foundation
import Testing
@testable import CachetController

/// Format v2 in the controller: identities in key Secrets, the recipients endpoint, `cachet recipients` and
/// `cachet seal --v2` against it, reconciling, verify and rotate.
@Suite("controller: format v2")
struct ControllerV2Tests {
    static let secretYAML = """
        apiVersion: v1
        kind: Secret
        metadata: {name: v2-made, namespace: team-a}
        stringData:
          password: "\(Support.canary)"
        """

    @Test("Bitnami keys have no identity: no recipients, seal --v2 refuses; a renewal adds one and v2 then works end to end")
    func renewalBringsV2() async throws {
        try await CLIControllerTests.with { harness, directory, kubeconfig in
            let empty = try await harness.request(harness.apiURL + "/v1/recipients.txt")
            #expect(empty.status == 200 && empty.body.isEmpty)
            let refused = try await CLIControllerTests.run(["seal", "--v2", "--kubeconfig", kubeconfig.path], stdin: Self.secretYAML)
            #expect(refused.status == 1 && refused.output.isEmpty)
            #expect(refused.error.hasPrefix("cachet: error: ") && refused.error.contains("holds no age identity on its newest key"), "\(refused.error)")
            let noRecipients = try await CLIControllerTests.run(["recipients", "--kubeconfig", kubeconfig.path])
            #expect(noRecipients.status == 1 && noRecipients.error.contains("kill -USR1"), "\(noRecipients.error)")

            await harness.controller.keys.renewNow()
            // The new key Secret holds the identity beside Bitnami's two items; the old one was not touched.
            let keySecrets = try await harness.client.listAll(.secrets, namespace: ControllerHarness.namespace,
                                                              labelSelector: "\(KeyManager.keyLabel)=active").items
            let items = keySecrets.map { Set($0.value(at: ["data"])?.keys ?? []) }
            #expect(items.filter { $0 == ["tls.crt", "tls.key", "age-identity.txt"] }.count == 1, "\(items)")
            #expect(items.filter { $0 == ["tls.crt", "tls.key"] }.count == 1, "\(items)")

            let listed = try await CLIControllerTests.run(["recipients", "--kubeconfig", kubeconfig.path])
            #expect(listed.status == 0, "\(listed.error)")
            let recipient = try #require(harness.controller.keys.sealingRecipients?.first)
            #expect(listed.outputText == "\(recipient)\n")
            #expect([UInt8](listed.output) == (try await harness.request(harness.apiURL + "/v1/recipients.txt")).body)

            let offline = try AgeIdentity.generate()
            let sealed = try await CLIControllerTests.run(
                ["seal", "--v2", "--recipient", offline.recipient.description, "--kubeconfig", kubeconfig.path, "-o", "yaml"],
                stdin: Self.secretYAML)
            #expect(sealed.status == 0, "\(sealed.error)")
            let object = try SealedSecretManifest(try #require(try ManifestReader.objects(in: ManifestReader.documents(in: [UInt8](sealed.output))).first))
            #expect(object.sealedBy == [recipient.keyID, offline.recipient.keyID], "the controller's recipient first")
            let value = try #require(object.encryptedData["password"])
            #expect(SealedValue.isV2(value))
            // The offline identity alone opens it too.
            #expect(try Unsealer(keyRing: KeyRing(keys: [], ageIdentities: [offline])).unseal(object).items["password"].map {
                $0.withUnsafeBytes { String(decoding: $0, as: UTF8.self) }
            } == Support.canary)

            _ = try await harness.apply(object.manifestValue)
            try await eventually("the Secret from v2 values") { ControllerHarness.data(await harness.secret("v2-made")) == ["password": Support.canary] }

            let file = directory.appendingPathComponent("v2.yaml")
            try sealed.output.write(to: file)
            let validated = try await CLIControllerTests.run(["validate", "--kubeconfig", kubeconfig.path, "-f", file.path])
            #expect(validated.status == 0, "\(validated.error)")
            // rotate keeps v2 values byte for byte (their other recipients are unknown here) and keeps naming them.
            let rotated = try await CLIControllerTests.run(["reencrypt", "--kubeconfig", kubeconfig.path, "-f", file.path])
            #expect(rotated.status == 0, "\(rotated.error)")
            let after = try String(contentsOf: file, encoding: .utf8)
            #expect(after.contains(value))
            #expect(after.contains("cachet.dev/sealed-by: \(recipient.keyID),\(offline.recipient.keyID)\n"), "only v2 values: no RSA id: \(after)")

            // A second renewal: only the newest key's recipient is served and sealed to; the older identity still opens.
            await harness.controller.keys.renewNow()
            let newer = try #require(harness.controller.keys.sealingRecipients)
            #expect(newer.count == 1 && newer != [recipient])
            let relisted = try await CLIControllerTests.run(["recipients", "--kubeconfig", kubeconfig.path])
            #expect(relisted.outputText == "\(newer[0])\n", "\(relisted.outputText)")
            let revalidated = try await CLIControllerTests.run(["validate", "--kubeconfig", kubeconfig.path, "-f", file.path])
            #expect(revalidated.status == 0, "\(revalidated.error)")
        }
    }

    @Test("an imported key without an identity that becomes newest turns v2 sealing off, with a warning")
    func newestWithoutIdentity() async throws {
        try await ControllerHarness.with { harness in
            await harness.controller.keys.renewNow()
            #expect(harness.controller.keys.sealingRecipients?.count == 1)
            let imported = try RSAPrivateKey.generate(bits: 2048)
            let certificate = try Certificate.selfSigned(for: imported, notBefore: Date().addingTimeInterval(3600))
            _ = try await harness.client.create(
                .secrets, try ControllerHarness.keySecret(name: "imported-key", key: imported, certificatePEM: certificate.pem),
                namespace: ControllerHarness.namespace)
            try await eventually("the imported key") { harness.controller.keys.keyCount == 3 }
            #expect(harness.controller.keys.sealingRecipients == [])
            #expect(harness.logs.text.contains("the newest key has no age identity"))
        }
    }

    @Test("an object demanding more key operations than its size warrants stops at the bound, and its status says so")
    func boundedWork() async throws {
        try await ControllerHarness.with { harness in
            await harness.controller.keys.renewNow()
            // 256 stanzas, none for this controller: 256 X25519 operations per value without a bound.
            let strangers = try (0..<256).map { _ in try AgeIdentity.generate().recipient }
            let items = try ["a": SecureBytes(copying: Array("x".utf8)), "b": SecureBytes(copying: Array("y".utf8))]
            let sealed = try Sealer(target: .recipients(strangers)).seal(
                SecretManifest(metadata: ObjectMeta(name: "costly", namespace: "team-a"), items: items, type: nil, immutable: nil)).sealedSecret
            _ = try await harness.apply(sealed.manifestValue)
            try await eventually("the bounded failure") {
                guard let synced = (try? await harness.sealedSecret("costly"))?.synced else { return false }
                return synced.status == "False" && synced.message.contains("stopped after 32 key operations")
            }
            #expect(await harness.secret("costly") == nil)
        }
    }

    @Test("a key Secret with an identity is picked up hot, as is an identity added to a key Secret later")
    func identitiesPickedUpHot() async throws {
        try await ControllerHarness.with { harness in
            // An identity added to the existing Bitnami key Secret by an edit.
            let identity = try AgeIdentity.generate()
            var keySecret = try await harness.client.get(.secrets, name: "sealed-secrets-keyfixture", namespace: ControllerHarness.namespace)
            keySecret.setValue(.string(Base64.encode(try identity.fileContents(created: "now"))), at: ["data", "age-identity.txt"])
            _ = try await harness.client.update(.secrets, keySecret)
            try await eventually("the identity") { harness.controller.keys.sealingRecipients == [identity.recipient] }

            let sealer = Sealer(target: .recipients([identity.recipient]))
            var metadata = ObjectMeta(name: "hot", namespace: "team-a")
            metadata.annotations = [:]
            let secret = SecretManifest(metadata: metadata, items: ["token": try SecureBytes(copying: Array(Support.canary.utf8))], type: nil, immutable: nil)
            _ = try await harness.apply(try sealer.seal(secret).sealedSecret.manifestValue)
            try await eventually("the Secret") { ControllerHarness.data(await harness.secret("hot")) == ["token": Support.canary] }

            // A value moved to another item: not opened, the Synced condition says so, nothing is written.
            var moved = try sealer.seal(SecretManifest(metadata: ObjectMeta(name: "moved", namespace: "team-a"),
                                                       items: ["token": try SecureBytes(copying: Array(Support.canary.utf8))],
                                                       type: nil, immutable: nil)).sealedSecret.manifestValue
            let value = try #require(moved.string(at: ["spec", "encryptedData", "token"]))
            moved.setValue(.object([("other", .string(value))]), at: ["spec", "encryptedData"])
            _ = try await harness.apply(moved)
            try await eventually("the failure condition") {
                (try? await harness.sealedSecret("moved"))?.synced?.status == "False"
            }
            #expect(await harness.secret("moved") == nil)
        }
    }
}
