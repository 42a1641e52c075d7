import CachetCrypto
import CachetDevCluster
import CachetKube
import CachetManifests
import CachetTestSupport
import Foundation
import Testing

/// The real kubectl (1.32) against the dev cluster: if kubectl needs it, the dev cluster implements it.
@Suite(.enabled(if: Repository.kubectl != nil, "kubectl is not installed"), .serialized)
struct KubectlTests {
    static let sealedYAML = """
        apiVersion: bitnami.com/v1alpha1
        kind: SealedSecret
        metadata:
          name: app
          namespace: team-a
          labels: {tier: web}
        spec:
          encryptedData:
            password: AgBy3i4OJSWK+PiTySYZZA==
          template:
            metadata: {name: app, namespace: team-a}
        """

    func withCluster(settings: DevCluster.Settings = .init(), _ body: (DevCluster, String) async throws -> Void) async throws {
        let harness = try await Harness.start(settings: settings)
        let kubeconfig = try TemporaryFile(harness.cluster.kubeconfig())
        do {
            try await body(harness.cluster, kubeconfig.path)
        } catch {
            await harness.close()
            throw error
        }
        await harness.close()
    }

    func kubectl(_ arguments: [String], _ kubeconfig: String, stdin: String = "", sourceLocation: SourceLocation = #_sourceLocation) async throws -> String {
        let result = try await Kubectl.run(arguments, kubeconfig: kubeconfig, stdin: stdin)
        #expect(result.status == 0, "kubectl \(arguments.joined(separator: " ")): \(result.error)", sourceLocation: sourceLocation)
        return result.outputText
    }

    /// The output of a `kubectl … -w` started a second before `change` runs, read until `marker` shows (or
    /// kubectl is ended, after 11 s).
    func watchOutput(_ arguments: [String], _ kubeconfig: String, until marker: String, after change: () async throws -> Void) async throws -> String {
        let process = Process()
        process.executableURL = Repository.kubectl!
        process.arguments = arguments
        process.environment = ["KUBECONFIG": kubeconfig, "HOME": NSTemporaryDirectory()]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        // Ends kubectl (and so the blocking reads below) if the marker never comes.
        let deadline = Task {
            try? await Task.sleep(for: .seconds(11))
            process.terminate()
        }
        defer {
            deadline.cancel()
            process.terminate()
            process.waitUntilExit()
        }
        try await Task.sleep(for: .seconds(1))
        try await change()
        var seen = ""
        while !seen.contains(marker) {
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            seen += String(decoding: chunk, as: UTF8.self)
        }
        return seen
    }

    @Test("create namespace, apply a SealedSecret (YAML and JSON), get -o json, patch, label selectors, delete")
    func lifecycle() async throws {
        try await withCluster { _, kubeconfig in
            #expect(try await kubectl(["create", "namespace", "team-a"], kubeconfig).contains("namespace/team-a created"))
            #expect(try await kubectl(["apply", "-f", "-"], kubeconfig, stdin: Self.sealedYAML).contains("sealedsecret.bitnami.com/app created"))
            #expect(try await kubectl(["apply", "-f", "-"], kubeconfig, stdin: Self.sealedYAML).contains("unchanged"))
            let json = #"{"apiVersion": "bitnami.com/v1alpha1", "kind": "SealedSecret", "metadata": {"name": "db", "namespace": "team-a", "labels": {"tier": "db"}}, "spec": {"encryptedData": {"k": "AQ=="}}}"#
            #expect(try await kubectl(["apply", "-f", "-"], kubeconfig, stdin: json).contains("sealedsecret.bitnami.com/db created"))

            let object = try ManifestValue(json: Array(try await kubectl(["get", "sealedsecret", "app", "-n", "team-a", "-o", "json"], kubeconfig).utf8))
            #expect(object.string(at: ["metadata", "uid"])?.count == 36)
            #expect(object.value(at: ["metadata", "generation"]) == .number("1"))
            #expect(object.string(at: ["spec", "encryptedData", "password"]) == "AgBy3i4OJSWK+PiTySYZZA==")
            #expect(object.string(at: ["metadata", "annotations", "kubectl.kubernetes.io/last-applied-configuration"]) != nil)

            // Labels are metadata: no new generation. A spec change is one.
            _ = try await kubectl(["patch", "sealedsecret", "app", "-n", "team-a", "--type=merge", "-p", #"{"metadata":{"labels":{"team":"a"}}}"#], kubeconfig)
            _ = try await kubectl(["patch", "sealedsecret", "app", "-n", "team-a", "--type=json",
                             "-p", #"[{"op":"replace","path":"/spec/encryptedData/password","value":"AQAB"}]"#], kubeconfig)
            let patched = try ManifestValue(json: Array(try await kubectl(["get", "sealedsecret", "app", "-n", "team-a", "-o", "json"], kubeconfig).utf8))
            #expect(patched.string(at: ["metadata", "labels", "team"]) == "a")
            #expect(patched.value(at: ["metadata", "generation"]) == .number("2"))

            #expect(try await kubectl(["get", "sealedsecrets", "-n", "team-a", "-l", "tier=web", "-o", "name"], kubeconfig) == "sealedsecret.bitnami.com/app\n")
            #expect(try await kubectl(["get", "sealedsecrets", "-A", "-l", "tier in (db,cache)", "-o", "name"], kubeconfig) == "sealedsecret.bitnami.com/db\n")
            #expect(try await kubectl(["get", "sealedsecrets", "-A", "-l", "!tier", "-o", "name"], kubeconfig) == "")

            #expect(try await kubectl(["delete", "sealedsecret", "app", "-n", "team-a"], kubeconfig).contains("deleted"))
            let missing = try await Kubectl.run(["get", "sealedsecret", "app", "-n", "team-a"], kubeconfig: kubeconfig)
            #expect(missing.status != 0 && missing.error.contains("NotFound"))
        }
    }

    @Test("kubectl create secret and configmap (sent as protobuf) land as JSON objects")
    func protobufCreate() async throws {
        try await withCluster { _, kubeconfig in
            _ = try await kubectl(["create", "secret", "generic", "s", "--from-literal=a=b", "--from-literal=c=d"], kubeconfig)
            _ = try await kubectl(["create", "configmap", "c", "--from-literal=k=v"], kubeconfig)
            let secret = try ManifestValue(json: Array(try await kubectl(["get", "secret", "s", "-o", "json"], kubeconfig).utf8))
            #expect(secret["data"] == .object([("a", .string("Yg==")), ("c", .string("ZA=="))]))
            #expect(secret["type"] == .string("Opaque"))
            let configMap = try ManifestValue(json: Array(try await kubectl(["get", "configmap", "c", "-o", "json"], kubeconfig).utf8))
            #expect(configMap.string(at: ["data", "k"]) == "v")
        }
    }

    /// A `kind: List` (what `kubectl get secret -o yaml` of several keys, a key backup, is) is validated by kubectl
    /// on its side against /openapi/v2, as on a real cluster: without that document it refused to apply.
    @Test("kubectl apply of a List (a key backup) validates against /openapi/v2; an unknown kind is still refused")
    func applyList() async throws {
        try await withCluster { _, kubeconfig in
            let list = """
                apiVersion: v1
                kind: List
                items:
                - apiVersion: v1
                  kind: Secret
                  metadata:
                    name: sealed-secrets-keyabc
                    namespace: kube-system
                    labels: {sealedsecrets.bitnami.com/sealed-secrets-key: active}
                  type: kubernetes.io/tls
                  data: {tls.crt: YWJj, tls.key: YWJj}
                - apiVersion: v1
                  kind: ConfigMap
                  metadata: {name: notes, namespace: kube-system}
                  data: {k: v}
                """
            let applied = try await Kubectl.run(["apply", "-f", "-"], kubeconfig: kubeconfig, stdin: list)
            #expect(applied.status == 0, "\(applied.error)")
            #expect(applied.outputText.contains("secret/sealed-secrets-keyabc created") && applied.outputText.contains("configmap/notes created"))
            let unknown = try await Kubectl.run(["apply", "-f", "-"], kubeconfig: kubeconfig,
                                                stdin: list.replacingOccurrences(of: "kind: ConfigMap", with: "kind: ConfigMapp"))
            #expect(unknown.status != 0 && unknown.error.contains("ConfigMapp"), "\(unknown.error)")
        }
    }

    @Test("kubectl get -w sees a later change")
    func watch() async throws {
        try await withCluster { _, kubeconfig in
            _ = try await kubectl(["create", "namespace", "team-a"], kubeconfig)
            _ = try await kubectl(["apply", "-f", "-"], kubeconfig, stdin: Self.sealedYAML)
            let seen = try await watchOutput(
                ["get", "sealedsecret", "app", "-n", "team-a", "-w", "-o", "jsonpath={.metadata.labels.stage}{\"\\n\"}"],
                kubeconfig, until: "changed"
            ) {
                _ = try await kubectl(["patch", "sealedsecret", "app", "-n", "team-a", "--type=merge", "-p", #"{"metadata":{"labels":{"stage":"changed"}}}"#], kubeconfig)
            }
            #expect(seen.contains("changed"), "watch output: \(seen)")
        }
    }

    @Test("kubectl get prints the server's columns: the CRD's printer columns, built-in ones, and in a watch")
    func serverSidePrinting() async throws {
        try await withCluster { _, kubeconfig in
            _ = try await kubectl(["create", "namespace", "team-a"], kubeconfig)
            _ = try await kubectl(["apply", "-f", "-"], kubeconfig, stdin: Self.sealedYAML)
            _ = try await kubectl(["patch", "sealedsecret", "app", "-n", "team-a", "--subresource=status", "--type=merge",
                             "-p", #"{"status":{"conditions":[{"type":"Synced","status":"True"}]}}"#], kubeconfig)
            let table = try await kubectl(["get", "sealedsecrets", "-A"], kubeconfig).split(separator: "\n").map {
                $0.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
            }
            #expect(table.first == ["NAMESPACE", "NAME", "STATUS", "SYNCED", "AGE"])
            #expect(table.count == 2 && table[1].prefix(3) == ["team-a", "app", "True"], "\(table)")
            #expect(table.last?.last?.hasSuffix("s") == true, "age in seconds: \(table)")

            _ = try await kubectl(["create", "secret", "generic", "s", "-n", "team-a", "--from-literal=a=b", "--from-literal=c=d"], kubeconfig)
            let secrets = try await kubectl(["get", "secret", "s", "-n", "team-a"], kubeconfig)
            #expect(secrets.hasPrefix("NAME   TYPE     DATA   AGE\ns      Opaque   2      "), "\(secrets)")

            // A watch: the later change arrives as a row with the same columns.
            let seen = try await watchOutput(["get", "secrets", "-n", "team-a", "-w"], kubeconfig, until: "later ") {
                _ = try await kubectl(["create", "secret", "generic", "later", "-n", "team-a", "--from-literal=a=b"], kubeconfig)
            }
            let row = seen.split(separator: "\n").first { $0.hasPrefix("later ") }?.split(separator: " ").map(String.init)
            #expect(row?.prefix(3) == ["later", "Opaque", "1"], "watch output: \(seen)")
        }
    }

    @Test("kubectl talks HTTPS with the generated CA, a client certificate and a token")
    func tls() async throws {
        var settings = DevCluster.Settings(bearerToken: "s3cret-token", tls: try DevCluster.TLSMaterial.generate())
        settings.tls?.requireClientCertificate = true
        try await withCluster(settings: settings) { cluster, kubeconfig in
            #expect(cluster.url.hasPrefix("https://"))
            let names = try await kubectl(["get", "namespaces", "-o", "name"], kubeconfig)
            #expect(names.contains("namespace/default"))
        }
    }
}
