import CachetCrypto
import CachetManifests
import CachetTestSupport
import Foundation
import Testing
@testable import CachetController

enum Support {
    static let canary = "CANARY-ee41-hunter2"

    static func renderer(jobs: Int = 2, namespace: String? = nil) -> Renderer {
        Renderer(unsealer: Unsealer(keyRing: KeyRing(keys: [FixtureKeys.rsa2048]), namespace: namespace), jobs: jobs)
    }

    /// A SealedSecret (a document body, no `---`) sealed with the fixture key for `namespace`; with
    /// `dropNamespace` the namespace is then removed, as in repositories that leave it to kustomize or Argo CD.
    static func sealedSecret(
        name: String, namespace: String = "team-a", dropNamespace: Bool = false, scope: SealingScope.Kind = .strict,
        items: [String: String] = ["password": canary], format: ManifestFormat = .yaml
    ) throws -> String {
        let stringData = items.sorted { $0.key < $1.key }.map { "  \($0.key): \"\($0.value)\"" }.joined(separator: "\n")
        let secret = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: \(name)\n  namespace: \(namespace)\ntype: Opaque\nstringData:\n\(stringData)\n"
        var sealer = Sealer(sealingKey: FixtureKeys.sealingKey)
        sealer.scope = scope
        let object = try #require(try ManifestReader.objects(in: ManifestReader.documents(in: Array(secret.utf8))).first)
        var sealed = try sealer.seal(SecretManifest(object)).sealedSecret
        if dropNamespace {
            sealed.metadata.namespace = nil
            sealed.template.metadata.namespace = nil
        }
        return String(decoding: try format.writeBody(sealed.manifestValue), as: UTF8.self)
    }

    /// The objects of a rendered stream, as Foundation JSON values via our own reader.
    static func objects(_ bytes: [UInt8]) throws -> [ManifestObject] {
        try ManifestReader.objects(in: ManifestReader.documents(in: bytes, limits: Renderer.limits))
    }

    /// `data` of the Secret named `name` in a rendered stream, decoded.
    static func secretData(_ bytes: [UInt8], name: String) throws -> [String: String] {
        let object = try #require(try objects(bytes).first { $0.kind == "Secret" && $0.node["metadata"]?["name"]?.scalar?.text == name })
        let secret = try SecretManifest(object)
        return secret.items.mapValues { String(decoding: $0.withUnsafeBytes { Array($0) }, as: UTF8.self) }
    }
}
