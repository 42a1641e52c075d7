import CachetManifests
import Foundation
import Testing

/// `cachet-controller render` as a sync engine runs it: a pipe, files and directories, and kustomize (inside kubectl).
struct RenderCommandTests {
    /// A temporary directory removed when the test's suite instance goes away.
    final class Scratch: Sendable {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("cachet-render-\(UUID().uuidString)")
        init() throws { try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true) }
        deinit { try? FileManager.default.removeItem(at: url) }
    }

    let scratch: Scratch
    var directory: URL { scratch.url }

    init() throws {
        scratch = try Scratch()
    }

    func write(_ text: String, to name: String) throws {
        let url = directory.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try text.write(to: url, atomically: true, encoding: .utf8)
    }

    func render(_ arguments: [String], stdin: String = "", environment: [String: String] = [:]) throws -> Support.Result {
        try Support.run(Support.executable, ["render"] + arguments, stdin: Data(stdin.utf8), environment: environment)
    }

    @Test("a pipe: stdin in, stdout out; keys from --keys or CACHET_KEYS")
    func pipe() throws {
        let input = try Support.sealedSecret(name: "app")
        for (arguments, environment) in [(["--keys", Support.keyFile], [String: String]()), ([], ["CACHET_KEYS": " ," + Support.keyFile])] {
            let result = try render(arguments, stdin: input, environment: environment)
            #expect(result.status == 0, "\(result.error)")
            #expect(try Support.secretData(Array(result.output), name: "app") == ["password": Support.canary])
        }
        let missing = try render([], stdin: input, environment: ["CACHET_KEYS": ""])
        #expect(missing.status == 64 && missing.error.contains("--keys"))
    }

    @Test("directories: manifest files in path order, kustomization files and hidden entries skipped")
    func directoryInput() throws {
        try write(try Support.sealedSecret(name: "b-secret"), to: "app/b.yaml")
        try write("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n", to: "app/a.yml")
        try write("{\"apiVersion\": \"v1\", \"kind\": \"ConfigMap\", \"metadata\": {\"name\": \"c\"}}\n", to: "app/sub/c.json")
        try write("resources: [a.yml]\n", to: "app/kustomization.yaml")
        try write("not yaml: [", to: "app/.git/config.yaml")
        try write("ignored", to: "app/README.md")
        let result = try render(["--keys", Support.keyFile, directory.appendingPathComponent("app").path])
        #expect(result.status == 0, "\(result.error)")
        let kinds = try Support.objects(Array(result.output)).map { "\($0.kind ?? "") \($0.node["metadata"]?["name"]?.scalar?.text ?? "")" }
        #expect(kinds == ["ConfigMap a", "Secret b-secret", "ConfigMap c"])
    }

    /// The splice landed one character early in a file saved with a byte-order mark (`---apiVersion: v1`).
    @Test("a file starting with a UTF-8 byte-order mark renders at the right place")
    func byteOrderMark() throws {
        let sealed = try Support.sealedSecret(name: "app")
        try write("\u{FEFF}" + sealed, to: "app/a.yaml")
        try write("\u{FEFF}# a config map\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: é}\n---\n" + (try Support.sealedSecret(name: "app2")), to: "app/b.yaml")
        let result = try render(["--keys", Support.keyFile, directory.appendingPathComponent("app").path])
        #expect(result.status == 0, "\(result.error)")
        let text = String(decoding: result.output, as: UTF8.self)
        #expect(!text.contains("\u{FEFF}") && !text.contains("---apiVersion") && !text.contains("\nlVersion"), "\(text)")
        #expect(try Support.secretData(Array(result.output), name: "app") == ["password": Support.canary])
        #expect(try Support.secretData(Array(result.output), name: "app2") == ["password": Support.canary])
        #expect(text.contains("# a config map\napiVersion: v1\nkind: ConfigMap"))
    }

    /// A link back to an ancestor made render loop (a Secret came out 41 times; two links grew the output without
    /// end); a link out of the tree could pass any file through, a private key included.
    @Test("symbolic links: loops are walked once, links out of the directory are refused")
    func symbolicLinks() throws {
        try write(try Support.sealedSecret(name: "app"), to: "app/a.yaml")
        let app = directory.appendingPathComponent("app")
        try write(try Support.sealedSecret(name: "b"), to: "app/sub/b.yaml")
        try FileManager.default.createSymbolicLink(atPath: app.appendingPathComponent("sub/loop").path, withDestinationPath: "..")
        try FileManager.default.createSymbolicLink(atPath: app.appendingPathComponent("self").path, withDestinationPath: ".")
        try FileManager.default.createSymbolicLink(atPath: app.appendingPathComponent("again.yaml").path, withDestinationPath: "a.yaml")
        let looped = try render(["--keys", Support.keyFile, app.path])
        #expect(looped.status == 0, "\(looped.error)")
        #expect(try Support.objects(Array(looped.output)).count == 2)

        try write("secret: outside\n", to: "outside.yaml")
        try FileManager.default.createSymbolicLink(atPath: app.appendingPathComponent("leak.yaml").path,
                                                   withDestinationPath: directory.appendingPathComponent("outside.yaml").path)
        let leaked = try render(["--keys", Support.keyFile, app.path])
        #expect(leaked.status == 1 && leaked.output.isEmpty)
        #expect(leaked.error.contains("leak.yaml is a symbolic link out of"), "\(leaked.error)")
    }

    @Test("ARGOCD_APP_NAMESPACE gives SealedSecrets without a namespace theirs")
    func argoNamespace() throws {
        let input = try Support.sealedSecret(name: "app", dropNamespace: true)
        let result = try render(["--keys", Support.keyFile], stdin: input, environment: ["ARGOCD_APP_NAMESPACE": "team-a"])
        #expect(result.status == 0, "\(result.error)")
        #expect(String(decoding: result.output, as: UTF8.self).contains("namespace: team-a"))
    }

    @Test("fail closed: nothing on stdout, each failing object and item on stderr, never a value")
    func failClosed() throws {
        let good = try Support.sealedSecret(name: "good")
        let moved = try Support.sealedSecret(name: "app").replacingOccurrences(of: "name: app", with: "name: moved")
        let result = try render(["--keys", Support.keyFile], stdin: "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n---\n" + good + "\n---\n" + moved)
        #expect(result.status == 1)
        #expect(result.output.isEmpty)
        #expect(result.error.contains("cachet-controller: error: <stdin>:"))
        #expect(result.error.contains("document 3") && result.error.contains("cannot decrypt password") && result.error.contains("team-a/moved"))
        #expect(!result.error.contains(Support.canary))

        let noKey = try render(["--keys", directory.appendingPathComponent("absent.pem").path], stdin: good)
        #expect(noKey.status == 1 && noKey.output.isEmpty && noKey.error.contains("cannot open"))
    }

    @Test("a ResourceList on stdin gets a ResourceList back; a failure gets results and exit 1")
    func resourceList() throws {
        let sealed = try Support.sealedSecret(name: "app", format: .json).split(separator: "\n").joined(separator: " ")
        let list = "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n- \(sealed)\nfunctionConfig: {apiVersion: cachet.dev/v1, kind: Render, metadata: {name: r}}\n"
        let result = try render(["--keys", Support.keyFile], stdin: list)
        #expect(result.status == 0, "\(result.error)")
        let text = String(decoding: result.output, as: UTF8.self)
        #expect(text.hasPrefix("apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n- {\"apiVersion\":\"v1\""))
        #expect(text.hasSuffix("functionConfig: {apiVersion: cachet.dev/v1, kind: Render, metadata: {name: r}}\n"))

        let failed = try render(["--keys", Support.keyFile], stdin: list.replacingOccurrences(of: "\"app\"", with: "\"moved\""))
        #expect(failed.status == 1)
        let output = String(decoding: failed.output, as: UTF8.self)
        #expect(output.contains("items: []") && output.contains("severity: error") && output.contains("cannot decrypt password"))
        #expect(!output.contains(Support.canary) && !failed.error.contains(Support.canary))
    }

    /// kustomize (inside kubectl) with a SealedSecret, a ConfigMap and the render step as a transformer.
    func kustomization(transformer: String) throws -> URL {
        let app = directory.appendingPathComponent("app")
        try write(try Support.sealedSecret(name: "db", items: ["password": Support.canary, "user": "admin"]), to: "app/sealed.yaml")
        try write("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  mode: fast\n", to: "app/cm.yaml")
        try write("resources:\n- cm.yaml\n- sealed.yaml\ntransformers:\n- render.yaml\n", to: "app/kustomization.yaml")
        try write(transformer, to: "app/render.yaml")
        return app
    }

    func expectKustomizeOutput(_ result: Support.Result, sourceLocation: SourceLocation = #_sourceLocation) throws {
        #expect(result.status == 0, "\(result.error)", sourceLocation: sourceLocation)
        let objects = try Support.objects(Array(result.output))
        #expect(objects.map { $0.kind ?? "" } == ["ConfigMap", "Secret"], sourceLocation: sourceLocation)
        #expect(try Support.secretData(Array(result.output), name: "db") == ["password": Support.canary, "user": "admin"],
                sourceLocation: sourceLocation)
        #expect(!String(decoding: result.output, as: UTF8.self).contains("SealedSecret"), sourceLocation: sourceLocation)
    }

    /// kubectl's kustomize has no --enable-exec, so it cannot run exec KRM functions; it does run container functions,
    /// by calling `docker run … IMAGE`. No container engine exists here, so a `docker` shim on PATH stands in for the
    /// engine and runs the function binary directly: kustomize itself builds the ResourceList, sends it, and parses
    /// what `render` returns, exactly as it would with the image.
    @Test("kustomize runs render as a KRM function (a transformer)", .enabled(if: Support.kubectl != nil, "kubectl is not installed"))
    func kustomizeKRMFunction() throws {
        let app = try kustomization(transformer: """
            apiVersion: cachet.dev/v1
            kind: Render
            metadata:
              name: render
              annotations:
                config.kubernetes.io/function: |
                  container:
                    image: cachet.dev/render:local
                    envs: [CACHET_KEYS]
            """)
        let bin = directory.appendingPathComponent("bin")
        try FileManager.default.createDirectory(at: bin, withIntermediateDirectories: true)
        let shim = bin.appendingPathComponent("docker")
        try "#!/bin/sh\n# Stand-in for the container engine: run the function's entrypoint.\nexec '\(Support.executable.path)' render\n"
            .write(to: shim, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: shim.path)
        let path = bin.path + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")
        let result = try Support.run(URL(fileURLWithPath: Support.kubectl!), ["kustomize", "--enable-alpha-plugins", app.path],
                                     environment: ["PATH": path, "CACHET_KEYS": Support.keyFile])
        try expectKustomizeOutput(result)
    }

    @Test("kustomize runs render as a legacy exec plugin", .enabled(if: Support.kubectl != nil, "kubectl is not installed"))
    func kustomizeExecPlugin() throws {
        let app = try kustomization(transformer: "apiVersion: cachet.dev/v1\nkind: Render\nmetadata:\n  name: render\n")
        let plugin = directory.appendingPathComponent("plugins/cachet.dev/v1/render/Render")
        try FileManager.default.createDirectory(at: plugin.deletingLastPathComponent(), withIntermediateDirectories: true)
        try "#!/bin/sh\n# kustomize exec plugin: argv[1] is the config file, resources arrive on stdin.\nexec '\(Support.executable.path)' render\n"
            .write(to: plugin, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: plugin.path)
        let result = try Support.run(URL(fileURLWithPath: Support.kubectl!), ["kustomize", "--enable-alpha-plugins", app.path],
                                     environment: ["KUSTOMIZE_PLUGIN_HOME": directory.appendingPathComponent("plugins").path,
                                                   "CACHET_KEYS": Support.keyFile])
        try expectKustomizeOutput(result)
    }
}
