import CachetCrypto
import CachetManifests
import Foundation
import Testing
@testable import CachetController

struct RendererTests {
    static let deployment = """
        # the web tier; comments and odd formatting must survive
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: web, labels: {app: web}}   # flow style, trailing comment
        spec:
            replicas:   3     # extra spaces
            template:
              spec:
                containers:
                - name: web
                  image: "nginx:1.27"
                  env: &env [{name: A, value: "1"}]
                  envFrom: []
        """
    static let configMap = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  mode: 'fast'\n  yes_please: yes\n"

    func render(_ text: String, jobs: Int = 2, namespace: String? = nil) throws -> [UInt8] {
        try Support.renderer(jobs: jobs, namespace: namespace).render([Renderer.Input(name: "in.yaml", bytes: Array(text.utf8))])
    }

    @Test("a mixed stream: SealedSecrets of every scope become Secrets; every other document keeps its bytes and place")
    func mixedStream() throws {
        let strict = try Support.sealedSecret(name: "strict-one", scope: .strict)
        let namespaceWide = try Support.sealedSecret(name: "ns-one", scope: .namespaceWide, items: ["a": "1", "b": Support.canary])
        let clusterWide = try Support.sealedSecret(name: "cluster-one", scope: .clusterWide)
        let list = """
            apiVersion: v1
            kind: List
            items:
            - apiVersion: v1
              kind: ConfigMap
              metadata: {name: listed}
            - \(try Support.sealedSecret(name: "listed-secret", format: .json).split(separator: "\n").joined(separator: " "))
            """
        let pieces = [Self.deployment, strict, "# an empty document follows\n", namespaceWide, Self.configMap, clusterWide, list]
        let input = pieces.joined(separator: "\n---\n") + "\n"
        let output = try render(input)
        let text = String(decoding: output, as: UTF8.self)

        // Pass-through documents appear byte for byte, in their original order.
        var cursor = text.startIndex
        for piece in [Self.deployment, "# an empty document follows\n", Self.configMap, "  kind: ConfigMap\n  metadata: {name: listed}"] {
            let found = try #require(text.range(of: piece, range: cursor..<text.endIndex), "\(piece.prefix(40))")
            cursor = found.upperBound
        }
        #expect(!text.contains("SealedSecret") && !text.contains("encryptedData"))
        #expect(try Support.secretData(output, name: "strict-one") == ["password": Support.canary])
        #expect(try Support.secretData(output, name: "ns-one") == ["a": "1", "b": Support.canary])
        #expect(try Support.secretData(output, name: "cluster-one") == ["password": Support.canary])
        #expect(try Support.secretData(output, name: "listed-secret") == ["password": Support.canary])
        let kinds = try Support.objects(output).map { $0.kind ?? "?" }
        #expect(kinds == ["Deployment", "Secret", "Secret", "ConfigMap", "Secret", "ConfigMap", "Secret"])
    }

    @Test("the Secret is Bitnami's mapping: template metadata, type, name and namespace forced")
    func secretShape() throws {
        let output = try render(try Support.sealedSecret(name: "app"))
        let secret = try SecretManifest(try #require(try Support.objects(output).first))
        #expect(secret.metadata.name == "app" && secret.metadata.namespace == "team-a")
        #expect(secret.type == "Opaque")
        #expect(secret.metadata.annotations[Annotations.sealedBy] == nil)
    }

    @Test("JSON streams stay JSON")
    func jsonStream() throws {
        let first = try Support.sealedSecret(name: "one", format: .json)
        let configMap = #"{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}"#
        let output = try render(first + "\n" + configMap + "\n")
        let text = String(decoding: output, as: UTF8.self)
        #expect(text.hasPrefix("{") && text.contains(configMap))
        #expect(try Support.secretData(output, name: "one") == ["password": Support.canary])
    }

    @Test("one thread or several: the same output")
    func parallelMatchesSerial() throws {
        let input = try (0..<12).map { try Support.sealedSecret(name: "s\($0)", items: ["a": "\($0)", "b": "x\($0)", "c": "y"]) }
            .joined(separator: "\n---\n")
        let serial = try render(input, jobs: 1)
        let parallel = try render(input, jobs: 4)
        #expect(serial == parallel)
        #expect(try Support.secretData(parallel, name: "s7") == ["a": "7", "b": "x7", "c": "y"])
    }

    @Test("a SealedSecret without a namespace takes the default namespace (ARGOCD_APP_NAMESPACE)")
    func defaultNamespace() throws {
        let sealed = try Support.sealedSecret(name: "app", dropNamespace: true)
        let output = try render(sealed, namespace: "team-a")
        let secret = try SecretManifest(try #require(try Support.objects(output).first))
        #expect(secret.metadata.namespace == "team-a")
        #expect(throws: Renderer.Failure.self) { try render(sealed) }
    }

    /// Fail closed: any failure throws, naming object and items; nothing is produced; no value in any message.
    func expectFailure(_ input: String, renderer: Renderer = Support.renderer(), mentioning fragments: [String],
                       sourceLocation: SourceLocation = #_sourceLocation) {
        do {
            _ = try renderer.render([Renderer.Input(name: "in.yaml", bytes: Array(input.utf8))])
            Issue.record("rendered", sourceLocation: sourceLocation)
        } catch {
            let text = "\(error)"
            for fragment in fragments { #expect(text.contains(fragment), "\(text)", sourceLocation: sourceLocation) }
            #expect(!text.contains(Support.canary), sourceLocation: sourceLocation)
        }
    }

    @Test("a wrong scope, a missing key and a tampered value fail closed, naming object and item")
    func failClosed() throws {
        let good = try Support.sealedSecret(name: "good")
        let moved = try Support.sealedSecret(name: "app", items: ["password": Support.canary, "user": "u"])
            .replacingOccurrences(of: "name: app", with: "name: other")
        expectFailure(good + "\n---\n" + moved, mentioning: ["in.yaml:", "document 2", "cannot decrypt password, user", "team-a/other"])

        let otherKey = Renderer(unsealer: Unsealer(keyRing: KeyRing(keys: [try RSAPrivateKey.generate(bits: 2048)])), jobs: 2)
        expectFailure(good, renderer: otherKey, mentioning: ["cannot decrypt password with the key"])

        let truncated = good.replacingOccurrences(of: "password: AQ", with: "password: AQA")
        expectFailure(truncated, mentioning: ["not a sealed value: password"])
        let flipped = good.replacingOccurrences(of: "password: AQ", with: "password: AP")
        expectFailure(flipped, mentioning: ["cannot decrypt password"])
    }

    @Test("duplicate keys pass through in other documents but are refused in a SealedSecret")
    func duplicates() throws {
        let deployment = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata:\n  a: 1\n  a: 2\n"
        let output = try render(deployment + "---\n" + (try Support.sealedSecret(name: "x")))
        #expect(String(decoding: output, as: UTF8.self).hasPrefix(deployment))
        let sealed = try Support.sealedSecret(name: "x").replacingOccurrences(of: "spec:\n", with: "spec:\n  template: {}\n")
        expectFailure(sealed, mentioning: ["duplicate key \"template\""])
    }

    @Test("a ResourceList round trip: only SealedSecret items change, orchestrator annotations carry over")
    func resourceList() throws {
        let sealed = try Support.sealedSecret(name: "app", format: .json).split(separator: "\n").joined(separator: " ")
            .replacingOccurrences(of: "\"annotations\": {", with: """
                "annotations": {"config.kubernetes.io/index": "1", "internal.config.kubernetes.io/id": "2", "kustomize.config.k8s.io/id": "kind: SealedSecret\\nname: app\\n",
                """)
        let input = """
            apiVersion: config.kubernetes.io/v1
            kind: ResourceList
            items:
            - apiVersion: v1
              kind: ConfigMap
              metadata:
                name: a   # kept
                annotations: {config.kubernetes.io/index: '0'}
            - \(sealed)
            functionConfig:
              apiVersion: cachet.dev/v1
              kind: Render
              metadata: {name: render}   # and this comment

            """
        let documents = try ManifestReader.documents(in: Array(input.utf8), limits: Renderer.limits)
        #expect(Renderer.isResourceList(documents))
        let (output, problems) = Support.renderer().renderResourceList(Renderer.Input(name: "<stdin>", bytes: Array(input.utf8)),
                                                                          document: documents[0])
        #expect(problems.isEmpty)
        let text = String(decoding: output, as: UTF8.self)
        #expect(text.hasPrefix("apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: a   # kept\n"))
        #expect(text.hasSuffix("functionConfig:\n  apiVersion: cachet.dev/v1\n  kind: Render\n  metadata: {name: render}   # and this comment\n"), "\(text)")
        let list = try #require(try ManifestReader.documents(in: output).first?.root)
        let item = try #require(list["items"]?.elements?[1])
        #expect(item["kind"]?.scalar?.text == "Secret")
        #expect(item["metadata"]?["annotations"]?["config.kubernetes.io/index"]?.scalar?.text == "1")
        #expect(item["metadata"]?["annotations"]?["kustomize.config.k8s.io/id"] != nil)
    }

    @Test("a failed ResourceList comes back with no items and the problems as results")
    func resourceListFailure() throws {
        let input = "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n- "
            + (try Support.sealedSecret(name: "app", format: .json)).split(separator: "\n").joined(separator: " ").replacingOccurrences(of: "\"app\"", with: "\"moved\"") + "\n"
        let documents = try ManifestReader.documents(in: Array(input.utf8), limits: Renderer.limits)
        let (output, problems) = Support.renderer().renderResourceList(Renderer.Input(name: "<stdin>", bytes: Array(input.utf8)),
                                                                          document: documents[0])
        #expect(problems.count == 1)
        let list = try #require(try ManifestReader.documents(in: output).first?.root)
        #expect(list["items"]?.elements?.isEmpty == true)
        let message = try #require(list["results"]?.elements?.first?["message"]?.scalar?.text)
        #expect(message.contains("cannot decrypt password") && !message.contains(Support.canary))
        #expect(list["results"]?.elements?.first?["severity"]?.scalar?.text == "error")
    }
}
