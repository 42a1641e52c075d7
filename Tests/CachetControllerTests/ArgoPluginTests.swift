import CachetManifests
import CachetTestSupport
import Foundation
import Testing

/// deploy/argocd/plugin.yaml's commands, run as the Argo CD sidecar would run them: in the app's directory, with the
/// build environment, `cachet-controller` (and kubectl, for kustomize) on PATH.
struct ArgoPluginTests {
    static let pluginFile = Repository.root.appendingPathComponent("deploy/argocd/plugin.yaml")

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
            try FileManager.default.createDirectory(at: url.appendingPathComponent("tmp"), withIntermediateDirectories: true)
            try FileManager.default.createSymbolicLink(at: url.appendingPathComponent("bin/cachet-controller"), withDestinationURL: Repository.executable("cachet-controller"))
        }
        deinit { try? FileManager.default.removeItem(at: url) }
        func write(_ text: String, _ name: String) throws {
            try text.write(to: url.appendingPathComponent("src").appendingPathComponent(name), atomically: true, encoding: .utf8)
        }
    }

    func run(_ command: [String], in app: App, namespace: String = "team-a", sourcePath: String = ".") throws -> ProcessResult {
        let path = app.url.appendingPathComponent("bin").path + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")
        return try TestProcess.run(program: command[0], Array(command.dropFirst()),
                                   environment: .inherited(adding: [
                                       "PATH": path, "CACHET_KEYS": FixtureKeys.rsa2048File, "ARGOCD_APP_NAMESPACE": namespace,
                                       "ARGOCD_APP_NAME": "demo", "ARGOCD_APP_SOURCE_PATH": sourcePath,
                                       "TMPDIR": app.url.appendingPathComponent("tmp").path,
                                   ]),
                                   directory: app.url.appendingPathComponent("src"))
    }

    /// Argo CD registers a plugin as `<name>-<version>` when it has a version, and tries plugins with a discover rule
    /// before its own Helm and kustomize detection: the plugin is `cachet-render`, used only when an app names it.
    @Test("the plugin is named cachet-render and is opt-in: no version, no discovery")
    func optIn() throws {
        let root = try #require(try ManifestReader.documents(in: Array(try Data(contentsOf: Self.pluginFile))).first?.root)
        #expect(root["metadata"]?["name"]?.scalar?.text == "cachet-render")
        #expect(root["spec"]?["version"] == nil && root["spec"]?["discover"] == nil)
        let docs = try String(contentsOf: Repository.root.appendingPathComponent("docs/controller.md"), encoding: .utf8)
        #expect(docs.contains("plugin.name: cachet-render") || docs.contains("plugin: {name: cachet-render}"))
    }

    @Test("generate renders a plain directory")
    func plainDirectory() throws {
        let app = try App()
        try FileManager.default.createDirectory(at: app.url.appendingPathComponent("src"), withIntermediateDirectories: true)
        try app.write(try Support.sealedSecret(name: "db", dropNamespace: true), "sealed.yaml")
        try app.write("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n", "cm.yaml")
        let generated = try run(try Self.command("generate"), in: app)
        #expect(generated.status == 0, "\(generated.error)")
        #expect(try Support.secretData(Array(generated.output), name: "db") == ["password": Support.canary])
        #expect(String(decoding: generated.output, as: UTF8.self).contains("namespace: team-a"), "ARGOCD_APP_NAMESPACE")
    }

    @Test("generate runs kustomize first when the app is a kustomization", .enabled(if: Repository.kubectl != nil, "kubectl is not installed"))
    func kustomizeApp() throws {
        let app = try App()
        try FileManager.default.createDirectory(at: app.url.appendingPathComponent("src"), withIntermediateDirectories: true)
        try app.write(try Support.sealedSecret(name: "db"), "sealed.yaml")
        try app.write("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n", "cm.yaml")
        try app.write("resources: [cm.yaml, sealed.yaml]\ncommonLabels: {team: a}\n", "kustomization.yaml")
        let before = try Self.temporaryFiles(of: app)
        let generated = try run(try Self.command("generate"), in: app)
        #expect(generated.status == 0, "\(generated.error)")
        let text = String(decoding: generated.output, as: UTF8.self)
        #expect(text.contains("kind: Secret") && text.contains("team: a") && !text.contains("SealedSecret"))
        #expect(try Self.temporaryFiles(of: app) == before, "generate left a temporary file behind")

        // A failure names the build it read from, not a temporary file; and leaves nothing behind either.
        try app.write(try Support.sealedSecret(name: "db").replacingOccurrences(of: "name: db", with: "name: moved"), "sealed.yaml")
        let failed = try run(try Self.command("generate"), in: app, sourcePath: "apps/db")
        #expect(failed.status != 0 && failed.output.isEmpty)
        #expect(failed.error.contains("kustomize build apps/db") && !failed.error.contains("/tmp"), "\(failed.error)")
        #expect(try Self.temporaryFiles(of: app) == before)
    }

    /// The files in the temporary directory the plugin's commands get (TMPDIR).
    static func temporaryFiles(of app: App) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: app.url.appendingPathComponent("tmp").path).sorted()
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
