import CachetManifests
import Foundation
import Testing

/// deploy/argocd/plugin.yaml's commands, run as the Argo CD sidecar would run them: in the app's directory, with the
/// build environment, `cachet-controller` (and kubectl, for kustomize) on PATH.
struct ArgoPluginTests {
    static let pluginFile = Support.repositoryRoot.appendingPathComponent("deploy/argocd/plugin.yaml")

    /// `spec.<phase>`'s command and args from plugin.yaml.
    static func command(_ phase: String, _ part: String = "") throws -> [String] {
        let documents = try ManifestReader.documents(in: Array(try Data(contentsOf: pluginFile)))
        let root = try #require(documents.first?.root)
        #expect(root["kind"]?.scalar?.text == "ConfigManagementPlugin" && root["apiVersion"]?.scalar?.text == "argoproj.io/v1alpha1")
        var node = try #require(root["spec"]?[phase])
        if !part.isEmpty { node = try #require(node[part]) }
        let command = (node["command"]?.elements ?? []).compactMap { $0.scalar?.text }
        let args = (node["args"]?.elements ?? []).compactMap { $0.scalar?.text }
        return command + args
    }

    final class App: Sendable {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("cachet-argo-\(UUID().uuidString)")
        init() throws {
            try FileManager.default.createDirectory(at: url.appendingPathComponent("bin"), withIntermediateDirectories: true)
            try FileManager.default.createSymbolicLink(at: url.appendingPathComponent("bin/cachet-controller"), withDestinationURL: Support.executable)
        }
        deinit { try? FileManager.default.removeItem(at: url) }
        func write(_ text: String, _ name: String) throws {
            try text.write(to: url.appendingPathComponent("src").appendingPathComponent(name), atomically: true, encoding: .utf8)
        }
    }

    func run(_ command: [String], in app: App, namespace: String = "team-a") throws -> Support.Result {
        let path = app.url.appendingPathComponent("bin").path + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")
        return try Support.run(URL(fileURLWithPath: "/usr/bin/env"), command,
                               environment: ["PATH": path, "CACHET_KEYS": Support.keyFile, "ARGOCD_APP_NAMESPACE": namespace,
                                             "ARGOCD_APP_NAME": "demo"],
                               directory: app.url.appendingPathComponent("src"))
    }

    @Test("generate renders a plain directory, and discovery finds it")
    func plainDirectory() throws {
        let app = try App()
        try FileManager.default.createDirectory(at: app.url.appendingPathComponent("src"), withIntermediateDirectories: true)
        try app.write(try Support.sealedSecret(name: "db", dropNamespace: true), "sealed.yaml")
        try app.write("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n", "cm.yaml")
        let found = try run(try Self.command("discover", "find"), in: app)
        #expect(found.status == 0 && String(decoding: found.output, as: UTF8.self).contains("sealed.yaml"))
        let generated = try run(try Self.command("generate"), in: app)
        #expect(generated.status == 0, "\(generated.error)")
        #expect(try Support.secretData(Array(generated.output), name: "db") == ["password": Support.canary])
        #expect(String(decoding: generated.output, as: UTF8.self).contains("namespace: team-a"), "ARGOCD_APP_NAMESPACE")
    }

    @Test("generate runs kustomize first when the app is a kustomization", .enabled(if: Support.kubectl != nil, "kubectl is not installed"))
    func kustomizeApp() throws {
        let app = try App()
        try FileManager.default.createDirectory(at: app.url.appendingPathComponent("src"), withIntermediateDirectories: true)
        try app.write(try Support.sealedSecret(name: "db"), "sealed.yaml")
        try app.write("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n", "cm.yaml")
        try app.write("resources: [cm.yaml, sealed.yaml]\ncommonLabels: {team: a}\n", "kustomization.yaml")
        let generated = try run(try Self.command("generate"), in: app)
        #expect(generated.status == 0, "\(generated.error)")
        let text = String(decoding: generated.output, as: UTF8.self)
        #expect(text.contains("kind: Secret") && text.contains("team: a") && !text.contains("SealedSecret"))
    }

    @Test("a failing render fails generation with nothing on stdout (an empty output would prune the app)")
    func failure() throws {
        let app = try App()
        try FileManager.default.createDirectory(at: app.url.appendingPathComponent("src"), withIntermediateDirectories: true)
        try app.write(try Support.sealedSecret(name: "db").replacingOccurrences(of: "name: db", with: "name: moved"), "sealed.yaml")
        let generated = try run(try Self.command("generate"), in: app)
        #expect(generated.status != 0 && generated.output.isEmpty)
        #expect(generated.error.contains("cannot decrypt password") && !generated.error.contains(Support.canary))
    }
}
