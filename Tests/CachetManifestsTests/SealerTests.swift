import CachetCrypto
import CachetTestSupport
import Foundation
import Testing
@testable import CachetManifests

struct SealerTests {
    static let secretYAML = """
        apiVersion: v1
        kind: Secret
        metadata:
          name: app
          namespace: team-a
          uid: 1234
          resourceVersion: "99"
          creationTimestamp: null
          labels: {app: web}
          annotations:
            argocd.argoproj.io/sync-wave: "-1"
            kubectl.kubernetes.io/last-applied-configuration: '{"stringData":{"password":"CANARY"}}'
            note: kept
        type: Opaque
        immutable: true
        stringData:
          password: CANARY-hunter2
        """

    func seal(_ yaml: String = secretYAML, configure: (inout Sealer) -> Void = { _ in }) throws -> Sealer.Result {
        var sealer = Sealer(sealingKey: Support.sealingKey)
        configure(&sealer)
        return try sealer.seal(Support.secret(yaml))
    }

    @Test("Bitnami's mapping: template metadata minus server fields and last-applied, type and immutable, scope on top")
    func mapping() throws {
        let result = try seal { $0.keepAnnotationPrefixes = ["argocd.argoproj.io/"] }
        let sealed = result.sealedSecret
        #expect(sealed.metadata.name == "app" && sealed.metadata.namespace == "team-a")
        #expect(sealed.metadata.annotations == [
            "cachet.dev/sealed-by": Support.sealingKey.keyID.hex, "argocd.argoproj.io/sync-wave": "-1",
        ])
        let template = sealed.template
        #expect(template.metadata.name == "app" && template.metadata.namespace == "team-a")
        #expect(template.metadata.labels == ["app": "web"])
        #expect(template.metadata.annotations == ["argocd.argoproj.io/sync-wave": "-1", "note": "kept"])
        #expect(template.metadata.otherFields.isEmpty, "uid, resourceVersion and creationTimestamp are gone")
        #expect(template.type == "Opaque" && template.immutable == true)
        #expect(result.warnings.count == 2)
        #expect(result.warnings[0].contains("metadata.uid, metadata.resourceVersion"))
        #expect(result.warnings[1].contains("last-applied-configuration"))
        #expect(!result.warnings.joined().contains("CANARY"))
        #expect(sealed.encryptedData.keys.sorted() == ["password"])
    }

    @Test("seal then unseal gives the Secret back, for every scope", arguments: SealingScope.Kind.allCases)
    func roundTrip(scope: SealingScope.Kind) throws {
        let sealed = try seal { $0.scope = scope }.sealedSecret
        #expect(sealed.scopeKind == scope)
        let secret = try Unsealer(keyRing: Support.keyRing).unseal(sealed)
        #expect(Support.text(secret.items["password"]) == "CANARY-hunter2")
        #expect(secret.metadata.name == "app" && secret.metadata.namespace == "team-a")
        #expect(secret.type == "Opaque" && secret.immutable == true)
    }

    @Test("the scope comes from the Secret's annotations unless --scope says otherwise")
    func scopeFromAnnotations() throws {
        let yaml = Self.secretYAML.replacingOccurrences(of: "    note: kept", with: "    sealedsecrets.bitnami.com/namespace-wide: \"true\"")
        #expect(try seal(yaml).sealedSecret.scopeKind == .namespaceWide)
        let strict = try seal(yaml) { $0.scope = .strict }.sealedSecret
        #expect(strict.scopeKind == .strict)
        #expect(strict.template.metadata.annotations[Annotations.namespaceWide] == nil, "an explicit scope replaces the old one")
    }

    @Test("namespace rules: -n fills, a mismatch is an error, strict needs one")
    func namespaces() throws {
        let withoutNamespace = Self.secretYAML.replacingOccurrences(of: "  namespace: team-a\n", with: "")
        #expect(try seal(withoutNamespace) { $0.namespace = "other" }.sealedSecret.metadata.namespace == "other")
        Support.expectError(["namespace mismatch", "\"team-a\"", "\"other\""]) { _ = try seal { $0.namespace = "other" } }
        Support.expectError(["has no namespace", "pass -n"]) { _ = try seal(withoutNamespace) }
        #expect(try seal(withoutNamespace) { $0.scope = .clusterWide }.sealedSecret.metadata.namespace == nil)
    }

    @Test("--name overrides metadata.name, and a missing name is an error")
    func names() throws {
        #expect(try seal { $0.name = "renamed" }.sealedSecret.template.metadata.name == "renamed")
        Support.expectError(["metadata.name", "missing"]) {
            _ = try seal(Self.secretYAML.replacingOccurrences(of: "  name: app\n", with: ""))
        }
    }

    @Test("a Secret without items needs --allow-empty-data")
    func emptyData() throws {
        let empty = "apiVersion: v1\nkind: Secret\nmetadata: {name: a, namespace: b}\n"
        Support.expectError(["no data or stringData", "--allow-empty-data"]) { _ = try seal(empty) }
        #expect(try seal(empty) { $0.allowEmptyData = true }.sealedSecret.encryptedData.isEmpty)
    }

    @Test("an expired certificate is refused")
    func expiredCertificate() throws {
        let pem = try Data(contentsOf: Repository.cryptoFixtures.appendingPathComponent("expired.crt"))
        #expect(throws: CachetCryptoError.self) { _ = try SealingKey(pem: pem) }
    }
}
