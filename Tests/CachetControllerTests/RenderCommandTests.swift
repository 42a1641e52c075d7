import CachetCrypto
import CachetManifests
import CachetTestSupport
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

    func render(_ arguments: [String], stdin: String = "", environment: [String: String] = [:]) throws -> ProcessResult {
        try TestProcess.run(Repository.executable("cachet-controller"), ["render"] + arguments, stdin: Data(stdin.utf8), environment: .inherited(adding: environment))
    }

    @Test("a pipe: stdin in, stdout out; keys from --keys or CACHET_KEYS")
    func pipe() throws {
        let input = try Support.sealedSecret(name: "app")
        for (arguments, environment) in [(["--keys", FixtureKeys.rsa2048File], [String: String]()), ([], ["CACHET_KEYS": " ," + FixtureKeys.rsa2048File])] {
            let result = try render(arguments, stdin: input, environment: environment)
            #expect(result.status == 0, "\(result.error)")
            #expect(try Support.secretData(Array(result.output), name: "app") == ["password": Support.canary])
        }
        let missing = try render([], stdin: input, environment: ["CACHET_KEYS": ""])
        #expect(missing.status == 64 && missing.error.contains("--keys"))
    }

    @Test("v1 and v2 values render together with a key directory holding tls.key and age-identity.txt")
    func formatV2() throws {
        let keys = directory.appendingPathComponent("keys")
        try FileManager.default.createDirectory(at: keys, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: FixtureKeys.rsa2048File, toPath: keys.appendingPathComponent("tls.key").path)
        let identity = try AgeIdentity.generate()
        let identityFile = keys.appendingPathComponent("age-identity.txt").path
        try identity.fileContents(created: "now").withUnsafeBytes { try Data($0).write(to: URL(fileURLWithPath: identityFile)) }
        for file in ["tls.key", "age-identity.txt"] {
            try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: keys.appendingPathComponent(file).path)
        }
        var sealed = try SealedSecretManifest(try #require(try ManifestReader.objects(in: ManifestReader.documents(
            in: Array(try Support.sealedSecret(name: "app").utf8))).first))
        var data = sealed.encryptedData
        data["token"] = try EnvelopeV2.sealedValue(Array("v2 \(Support.canary)".utf8), to: [identity.recipient],
                                                   scope: .strict(namespace: "team-a", name: "app"), item: "token")
        sealed = SealedSecretManifest(metadata: sealed.metadata, encryptedData: data, template: sealed.template)
        let result = try render(["--keys", keys.path], stdin: String(decoding: sealed.manifestValue.jsonBytes, as: UTF8.self))
        #expect(result.status == 0, "\(result.error)")
        #expect(try Support.secretData(Array(result.output), name: "app") == ["password": Support.canary, "token": "v2 \(Support.canary)"])
    }

    @Test("directories: manifest files in path order, kustomization files and hidden entries skipped")
    func directoryInput() throws {
        try write(try Support.sealedSecret(name: "b-secret"), to: "app/b.yaml")
        try write("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n", to: "app/a.yml")
        try write("{\"apiVersion\": \"v1\", \"kind\": \"ConfigMap\", \"metadata\": {\"name\": \"c\"}}\n", to: "app/sub/c.json")
        try write("resources: [a.yml]\n", to: "app/kustomization.yaml")
        try write("not yaml: [", to: "app/.git/config.yaml")
        try write("ignored", to: "app/README.md")
        let result = try render(["--keys", FixtureKeys.rsa2048File, directory.appendingPathComponent("app").path])
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
        let result = try render(["--keys", FixtureKeys.rsa2048File, directory.appendingPathComponent("app").path])
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
        let looped = try render(["--keys", FixtureKeys.rsa2048File, app.path])
        #expect(looped.status == 0, "\(looped.error)")
        #expect(try Support.objects(Array(looped.output)).count == 2)

        try write("secret: outside\n", to: "outside.yaml")
        try FileManager.default.createSymbolicLink(atPath: app.appendingPathComponent("leak.yaml").path,
                                                   withDestinationPath: directory.appendingPathComponent("outside.yaml").path)
        let leaked = try render(["--keys", FixtureKeys.rsa2048File, app.path])
        #expect(leaked.status == 1 && leaked.output.isEmpty)
        #expect(leaked.error.contains("leak.yaml is a symbolic link out of"), "\(leaked.error)")
    }

    @Test("ARGOCD_APP_NAMESPACE gives SealedSecrets without a namespace theirs")
    func argoNamespace() throws {
        let input = try Support.sealedSecret(name: "app", dropNamespace: true)
        let result = try render(["--keys", FixtureKeys.rsa2048File], stdin: input, environment: ["ARGOCD_APP_NAMESPACE": "team-a"])
        #expect(result.status == 0, "\(result.error)")
        #expect(String(decoding: result.output, as: UTF8.self).contains("namespace: team-a"))
    }

    @Test("fail closed: nothing on stdout, each failing object and item on stderr, never a value")
    func failClosed() throws {
        let good = try Support.sealedSecret(name: "good")
        let moved = try Support.sealedSecret(name: "app").replacingOccurrences(of: "name: app", with: "name: moved")
        let result = try render(["--keys", FixtureKeys.rsa2048File], stdin: "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n---\n" + good + "\n---\n" + moved)
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
        let sealed = try Support.sealedSecret(name: "app", scope: .clusterWide, format: .json).split(separator: "\n").joined(separator: " ")
        let list = "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n- \(sealed)\nfunctionConfig: {apiVersion: cachet.dev/v1, kind: Render, metadata: {name: r}}\n"
        let result = try render(["--keys", FixtureKeys.rsa2048File], stdin: list)
        #expect(result.status == 0, "\(result.error)")
        let text = String(decoding: result.output, as: UTF8.self)
        #expect(text.hasPrefix("apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n- {\"apiVersion\":\"v1\""))
        #expect(text.hasSuffix("functionConfig: {apiVersion: cachet.dev/v1, kind: Render, metadata: {name: r}}\n"))

        // A value that does not open, and a strict one (which a function cannot render: see the kustomize tests).
        let other = try RSAPrivateKey.generate(bits: 2048)
        let foreign = try EnvelopeV1.sealedValue(Array("x".utf8), to: other.publicKey, scope: .clusterWide)
        let broken = list.replacing(#/"password": ?"[^"]+"/#, with: "\"password\": \"\(foreign)\"")
        let strict = try Support.sealedSecret(name: "db", format: .json).split(separator: "\n").joined(separator: " ")
        for (input, reason) in [(broken, "cannot decrypt password"), (list.replacingOccurrences(of: "items:\n", with: "items:\n- \(strict)\n"), "inside a kustomize build")] {
            let failed = try render(["--keys", FixtureKeys.rsa2048File], stdin: input)
            #expect(failed.status == 1)
            let output = String(decoding: failed.output, as: UTF8.self)
            #expect(output.contains("items: []") && output.contains("severity: error") && output.contains(reason), "\(output)")
            #expect(failed.error.contains(reason), "the reason is on stderr too, where kustomize shows it: \(failed.error)")
            #expect(!output.contains(Support.canary) && !failed.error.contains(Support.canary))
        }
    }

    /// kustomize (inside kubectl) with a SealedSecret, a ConfigMap and the render step as a transformer, in `app/`.
    func kustomization(transformer: String, scope: SealingScope.Kind = .clusterWide, at folder: String = "app") throws -> URL {
        let app = directory.appendingPathComponent(folder)
        try write(try Support.sealedSecret(name: "db", namespace: "team-b", scope: scope, items: ["password": Support.canary, "user": "admin"]),
                  to: "\(folder)/sealed.yaml")
        try write("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  mode: fast\n", to: "\(folder)/cm.yaml")
        try write("resources:\n- cm.yaml\n- sealed.yaml\ntransformers:\n- render.yaml\n", to: "\(folder)/kustomization.yaml")
        try write(transformer, to: "\(folder)/render.yaml")
        return app
    }

    func expectKustomizeOutput(_ result: ProcessResult, name: String = "db", sourceLocation: SourceLocation = #_sourceLocation) throws {
        #expect(result.status == 0, "\(result.error)", sourceLocation: sourceLocation)
        let objects = try Support.objects(Array(result.output))
        #expect(objects.map { $0.kind ?? "" } == ["ConfigMap", "Secret"], sourceLocation: sourceLocation)
        #expect(try Support.secretData(Array(result.output), name: name) == ["password": Support.canary, "user": "admin"],
                sourceLocation: sourceLocation)
        #expect(!String(decoding: result.output, as: UTF8.self).contains("SealedSecret"), sourceLocation: sourceLocation)
    }

    /// kustomize refused the build: no Secret and no value anywhere, and the reason said.
    func expectRefused(_ result: ProcessResult, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(result.status != 0, sourceLocation: sourceLocation)
        let output = String(decoding: result.output, as: UTF8.self)
        #expect(!output.contains("kind: Secret") && !output.contains(Support.canary) && !result.error.contains(Support.canary),
                sourceLocation: sourceLocation)
        #expect(result.error.contains("cannot be rendered inside a kustomize build"), "\(result.error)", sourceLocation: sourceLocation)
    }

    static let krmTransformer = """
        apiVersion: cachet.dev/v1
        kind: Render
        metadata:
          name: render
          annotations:
            config.kubernetes.io/function: |
              container:
                image: cachet.dev/render:local
                envs: [CACHET_KEYS]
        """
    static let pluginTransformer = "apiVersion: cachet.dev/v1\nkind: Render\nmetadata:\n  name: render\n"

    /// kubectl's kustomize has no --enable-exec, so it cannot run exec KRM functions; it does run container functions,
    /// by calling `docker run … IMAGE`. No container engine exists here, so a `docker` shim on PATH stands in for the
    /// engine and runs the function binary directly: kustomize itself builds the ResourceList, sends it, and parses
    /// what `render` returns, exactly as it would with the image.
    func kustomizeWithFunction(_ target: URL) throws -> ProcessResult {
        let bin = directory.appendingPathComponent("bin")
        try FileManager.default.createDirectory(at: bin, withIntermediateDirectories: true)
        let shim = bin.appendingPathComponent("docker")
        try "#!/bin/sh\n# Stand-in for the container engine: run the function's entrypoint.\nexec '\(Repository.executable("cachet-controller").path)' render\n"
            .write(to: shim, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: shim.path)
        let path = bin.path + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")
        return try TestProcess.run(Repository.kubectl!, ["kustomize", "--enable-alpha-plugins", target.path],
                                   environment: .inherited(adding: ["PATH": path, "CACHET_KEYS": FixtureKeys.rsa2048File]))
    }

    /// The legacy exec plugin, as users wrap it: `exec cachet-controller render "$@"` (kustomize passes the plugin's
    /// config file as the argument and the resources on stdin).
    func kustomizeWithPlugin(_ target: URL) throws -> ProcessResult {
        let plugin = directory.appendingPathComponent("plugins/cachet.dev/v1/render/Render")
        try FileManager.default.createDirectory(at: plugin.deletingLastPathComponent(), withIntermediateDirectories: true)
        try "#!/bin/sh\n# kustomize exec plugin: argv[1] is the config file, resources arrive on stdin.\nexec '\(Repository.executable("cachet-controller").path)' render \"$@\"\n"
            .write(to: plugin, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: plugin.path)
        return try TestProcess.run(Repository.kubectl!, ["kustomize", "--enable-alpha-plugins", target.path],
                                   environment: .inherited(adding: ["KUSTOMIZE_PLUGIN_HOME": directory.appendingPathComponent("plugins").path,
                                                                    "CACHET_KEYS": FixtureKeys.rsa2048File]))
    }

    @Test("kustomize runs render as a KRM function (a transformer): cluster-wide values render, bound ones are refused",
          .enabled(if: Repository.kubectl != nil, "kubectl is not installed"))
    func kustomizeKRMFunction() throws {
        try expectKustomizeOutput(try kustomizeWithFunction(try kustomization(transformer: Self.krmTransformer)))
        expectRefused(try kustomizeWithFunction(try kustomization(transformer: Self.krmTransformer, scope: .strict, at: "strict")))
        expectRefused(try kustomizeWithFunction(try kustomization(transformer: Self.krmTransformer, scope: .namespaceWide, at: "wide")))
    }

    @Test("kustomize runs render as a legacy exec plugin, wrapped with \"$@\": cluster-wide values render, bound ones are refused",
          .enabled(if: Repository.kubectl != nil, "kubectl is not installed"))
    func kustomizeExecPlugin() throws {
        try expectKustomizeOutput(try kustomizeWithPlugin(try kustomization(transformer: Self.pluginTransformer)))
        expectRefused(try kustomizeWithPlugin(try kustomization(transformer: Self.pluginTransformer, scope: .strict, at: "strict")))
    }

    /// Issue: with render in a base, a value sealed strictly for team-b/db came out as Secret team-a/stolen-db once an
    /// overlay set `namespace:` and `namePrefix:`. Every way Cachet documents must fail closed or keep the binding.
    @Test("a base with render and an overlay that renames: refused as a KRM function and as an exec plugin; a piped build is refused by scope",
          .enabled(if: Repository.kubectl != nil, "kubectl is not installed"))
    func overlayCannotRename() throws {
        for (transformer, run) in [(Self.krmTransformer, kustomizeWithFunction), (Self.pluginTransformer, kustomizeWithPlugin)] {
            for overlay in ["namespace: team-a\n", "namePrefix: stolen-\n", "namespace: team-a\nnamePrefix: stolen-\n"] {
                _ = try kustomization(transformer: transformer, scope: .strict, at: "base")
                try write("resources:\n- ../base\n" + overlay, to: "steal/kustomization.yaml")
                expectRefused(try run(directory.appendingPathComponent("steal")))
            }
        }
        // A cluster-wide value is bound to no name: renaming it is the point of that scope.
        _ = try kustomization(transformer: Self.krmTransformer, scope: .clusterWide, at: "base")
        try write("resources:\n- ../base\nnamespace: team-a\nnamePrefix: stolen-\n", to: "steal/kustomization.yaml")
        try expectKustomizeOutput(try kustomizeWithFunction(directory.appendingPathComponent("steal")), name: "stolen-db")

        // Render after the build (the Argo CD plugin's way) sees the final names: the scope refuses the move, and says so.
        try write(try Support.sealedSecret(name: "db", namespace: "team-b", items: ["password": Support.canary]), to: "plain/sealed.yaml")
        try write("resources:\n- sealed.yaml\n", to: "plain/kustomization.yaml")
        try write("resources:\n- ../plain\nnamespace: team-a\nnamePrefix: stolen-\n", to: "moved/kustomization.yaml")
        try write("resources:\n- ../plain\ncommonLabels: {tier: db}\n", to: "kept/kustomization.yaml")
        let moved = try TestProcess.run(Repository.kubectl!, ["kustomize", directory.appendingPathComponent("moved").path])
        let refused = try render(["--keys", FixtureKeys.rsa2048File, "--input-name", "kustomize build moved"], stdin: String(decoding: moved.output, as: UTF8.self))
        #expect(refused.status == 1 && refused.output.isEmpty)
        #expect(refused.error.contains("kustomize build moved") && refused.error.contains("strict (team-a/stolen-db)")
                && refused.error.contains("sealed for \"team-b/db\""), "\(refused.error)")
        let kept = try TestProcess.run(Repository.kubectl!, ["kustomize", directory.appendingPathComponent("kept").path])
        let rendered = try render(["--keys", FixtureKeys.rsa2048File], stdin: String(decoding: kept.output, as: UTF8.self))
        #expect(rendered.status == 0, "\(rendered.error)")
        #expect(try Support.secretData(Array(rendered.output), name: "db") == ["password": Support.canary])
    }
}

extension RenderCommandTests {
    @Test("a FIFO in a rendered directory is refused, not read for ever; a SealedSecret in a document with aliases is refused")
    func oddInputs() throws {
        try write(try Support.sealedSecret(name: "app"), to: "fifo/a.yaml")
        #expect(mkfifo(directory.appendingPathComponent("fifo/b.yaml").path, 0o600) == 0)
        let fifo = try render(["--keys", FixtureKeys.rsa2048File, directory.appendingPathComponent("fifo").path])
        #expect(fifo.status == 1 && fifo.error.contains("b.yaml is not a regular file"), "\(fifo.error)")

        let sealed = try Support.sealedSecret(name: "app", format: .json).split(separator: "\n").joined(separator: " ")
        let aliased = "apiVersion: v1\nkind: List\nitems:\n- &ss \(sealed)\n- *ss\n"
        let refused = try render(["--keys", FixtureKeys.rsa2048File], stdin: aliased)
        #expect(refused.status == 1 && refused.output.isEmpty && refused.error.contains("YAML aliases"), "\(refused.error)")
    }

    /// Names from input reached the terminal raw: a newline forged a success line, an escape cleared the screen.
    @Test("control characters in names and keys are shown escaped, on one line")
    func escapedNames() throws {
        let sealed = try Support.sealedSecret(name: "app")
            .replacingOccurrences(of: "  name: app\n", with: "  name: \"app\\n\\u001b[2Jcachet-controller: all good\"\n")
            .replacingOccurrences(of: "spec:\n", with: "spec:\n  \"x\\n\\u001b[31mINJECTED\": 1\n")
        let result = try render(["--keys", FixtureKeys.rsa2048File], stdin: sealed)
        #expect(result.status == 1)
        #expect(result.error.split(separator: "\n").count == 1 && !result.error.contains("\u{1b}"), "\(result.error)")
        #expect(result.error.contains("\\n") && result.error.contains("\\u{1b}"), "\(result.error)")
    }
}
