import CachetTestSupport
import Foundation
import Testing

enum Git {
    static let path = ["/usr/bin/git", "/usr/local/bin/git"].first { FileManager.default.isExecutableFile(atPath: $0) }
}

/// `cachet check` on a GitOps repository (a real git work tree, built with the real kubectl kustomize), and through
/// the real pre-commit tool.
@Suite("cachet check", .enabled(if: Repository.kubectl != nil && Git.path != nil, "kubectl and git are needed (scripts/bootstrap)"))
struct CheckCommandTests {
    static let git = Git.path
    static let canary = "check-canary-51c2"

    let repository: TemporaryDirectory
    var root: URL { repository.url }

    /// base (a cluster-wide SealedSecret, free to move) + overlays/prod (namespace prod, namePrefix prod-) +
    /// overlays/dev (a namespace-wide one for dev, kept there), rules sealing everything to keys/dev.
    init() throws {
        repository = try TemporaryDirectory()
        try Self.run(Self.git!, ["init", "-q", root.path])
        try FileManager.default.createDirectory(atPath: repository.path("keys"), withIntermediateDirectories: true)
        for name in ["keys/dev", "old"] {
            let result = try CachetProcess.run(["keys", "generate", "--out", repository.path(name), "--rsa-bits", "2048"])
            guard result.status == 0 else { throw CocoaError(.fileWriteUnknown, userInfo: ["stderr": result.error]) }
        }
        try repository.write(".gitignore", "old/\nkeys/*/tls.key\nkeys/*/age-identity.txt\n*.plain.yaml\n", mode: 0o644)
        try repository.write(".cachet.yaml", "rules:\n  - path: \"**\"\n    cert: keys/dev\n", mode: 0o644)
        try repository.write("base/kustomization.yaml", "resources: [db.sealed.yaml]\n", mode: 0o644)
        try repository.write("overlays/prod/kustomization.yaml", "namespace: prod\nnamePrefix: prod-\nresources: [../../base]\n", mode: 0o644)
        try repository.write("overlays/dev/kustomization.yaml", "namespace: dev\nresources: [app.sealed.yaml]\n", mode: 0o644)
        try seal("base/db.plain.yaml", "base/db.sealed.yaml", name: "db", namespace: "base", extra: ["--scope", "cluster-wide"])
        try seal("overlays/dev/app.plain.yaml", "overlays/dev/app.sealed.yaml", name: "app", namespace: "dev", extra: ["--scope", "namespace-wide"])
    }

    static func secret(name: String, namespace: String) -> String {
        "apiVersion: v1\nkind: Secret\nmetadata: {name: \(name), namespace: \(namespace)}\nstringData:\n  password: \"\(canary)\"\n"
    }

    /// Writes the plaintext (gitignored) and seals it by the rules.
    func seal(_ plain: String, _ sealed: String, name: String, namespace: String, extra: [String] = []) throws {
        try repository.write(plain, Self.secret(name: name, namespace: namespace))
        let result = try cachet(["seal", "-f", plain, "-w", sealed] + extra)
        guard result.status == 0 else { throw CocoaError(.fileWriteUnknown, userInfo: ["stderr": result.error]) }
    }

    func cachet(_ arguments: [String], environment: [String: String]? = nil) throws -> ProcessResult {
        try CachetProcess.run(arguments, in: root, environment: environment)
    }

    @discardableResult
    static func run(_ tool: String, _ arguments: [String], in directory: URL? = nil, environment: TestProcess.Environment = .inherited) throws -> ProcessResult {
        let result = try TestProcess.run(URL(fileURLWithPath: tool), arguments, environment: environment, directory: directory)
        guard result.status == 0 else { throw CocoaError(.executableLoad, userInfo: ["stderr": result.error, "tool": tool]) }
        return result
    }

    @Test("a clean repository: exit 0, nothing printed; gitignored plaintext beside its SealedSecret is not reported")
    func clean() throws {
        let result = try cachet(["check"])
        #expect(result.status == 0, "\(String(decoding: result.output, as: UTF8.self)) \(result.error)")
        #expect(result.output.isEmpty)
    }

    @Test("each kind of problem: file, line, what, and the fix; JSON too; no value anywhere")
    func findings() throws {
        try repository.write("leak.yaml", Self.secret(name: "leak", namespace: "dev"), mode: 0o644)
        try repository.write("overlays/dev/gen/kustomization.yaml",
                             "secretGenerator:\n- name: creds\n  literals:\n  - password=\(Self.canary)\n", mode: 0o644)
        try repository.write("broken.sealed.yaml", "apiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\nmetadata: {name: x}\nspec:\n  encryptedData: [1, 2]\n", mode: 0o644)
        // Sealed to a key the rules no longer name (a renewal since).
        try repository.write("stale.plain.yaml", Self.secret(name: "stale", namespace: "dev"))
        let stale = try cachet(["seal", "--cert", "old", "-f", "stale.plain.yaml", "-w", "stale.sealed.yaml"])
        #expect(stale.status == 0, "\(stale.error)")

        // The base's value sealed strict instead: prod's overlay renames it.
        try seal("base/db.plain.yaml", "base/db.sealed.yaml", name: "db", namespace: "base")

        let result = try cachet(["check"])
        let text = String(decoding: result.output, as: UTF8.self)
        #expect(result.status == 1, "\(text) \(result.error)")
        let expected = [
            "leak.yaml:4: Secret leak holds 1 value in plaintext (stringData: password) [plaintext-secret]",
            "overlays/dev/gen/kustomization.yaml:3: secretGenerator creds builds a Secret from literal values written in the kustomization: plaintext in git [secret-generator]",
            "broken.sealed.yaml:5:",
            "[unreadable]",
            "stale.sealed.yaml:2: SealedSecret stale is sealed by ",
            "[stale]",
            "base/db.sealed.yaml:2: SealedSecret db is sealed strict for base/db, but overlays/prod builds it as prod/prod-db: the controller will refuse to unseal it [moved-by-overlay]",
            "fix: cachet seal -f leak.yaml -w leak.sealed.yaml",
            "fix: cachet reencrypt -f stale.sealed.yaml",
        ]
        for fragment in expected { #expect(text.contains(fragment), "missing \(fragment) in:\n\(text)") }
        #expect(!text.contains("overlays/dev/app.sealed.yaml"), "a namespace-wide value kept in its namespace was reported")
        #expect(!text.contains(Self.canary) && !result.error.contains(Self.canary))
        #expect(result.error.contains("5 problems in 5 file(s)"), "\(result.error)")

        let json = try cachet(["check", "-o", "json", "leak.yaml", "stale.sealed.yaml"])
        #expect(json.status == 1)
        let object = try #require(try JSONSerialization.jsonObject(with: json.output) as? [String: Any])
        let kinds = (object["findings"] as? [[String: Any]])?.compactMap { $0["kind"] as? String }.sorted()
        #expect(kinds == ["plaintext-secret", "stale"], "\(object)")
    }

    /// The base's file sealed for what prod's overlay makes of it (prod/prod-db): it opens there and nowhere else, the
    /// repository checks clean, and an overlay that would deploy it elsewhere is reported.
    @Test("seal --kustomization: sealed for the built namespace and name; check agrees, and catches a second overlay")
    func sealForOverlay() throws {
        let sealed = try cachet(["seal", "-f", "base/db.plain.yaml", "-w", "base/db.sealed.yaml", "--kustomization", "overlays/prod"])
        #expect(sealed.status == 0, "\(sealed.error)")
        #expect(sealed.error.contains("sealing for prod/prod-db, as overlays/prod builds base/db.sealed.yaml"), "\(sealed.error)")
        let text = try String(contentsOf: root.appendingPathComponent("base/db.sealed.yaml"), encoding: .utf8)
        #expect(text.contains("cachet.dev/sealed-for: prod/prod-db") && text.contains("  name: db\n") && text.contains("  namespace: base\n"), "\(text)")

        // Built by prod, it opens; the base alone is refused, and the message names both places.
        let built = try TestProcess.run(Repository.kubectl!, ["kustomize", "overlays/prod"], directory: root)
        #expect(built.status == 0, "\(built.error)")
        let opened = try CachetProcess.run(["unseal", "--key", "keys/dev", "-f", "-", "-o", "json"], stdin: built.output, in: root)
        #expect(opened.status == 0 && String(decoding: opened.output, as: UTF8.self).contains(Data(Self.canary.utf8).base64EncodedString()), "\(opened.error)")
        let refused = try cachet(["unseal", "--key", "keys/dev", "-f", "base/db.sealed.yaml"])
        #expect(refused.status == 1 && refused.error.contains("sealed for \"prod/prod-db\""), "\(refused.error)")

        #expect(try cachet(["check"]).status == 0)
        try repository.write("overlays/dev2/kustomization.yaml", "namespace: dev\nresources: [../../base]\n", mode: 0o644)
        let moved = try cachet(["check"])
        #expect(moved.status == 1)
        #expect(String(decoding: moved.output, as: UTF8.self).contains("base/db.sealed.yaml:2: SealedSecret db is sealed strict for prod/prod-db, but overlays/dev2 builds it as dev/db"),
                "\(String(decoding: moved.output, as: UTF8.self))")
    }

    /// A patch may rename an object outright; the built name then contains nothing of the source's, and the object is
    /// traced back by its sealed values (review finding 15: the move went unreported).
    @Test("check: a strict SealedSecret renamed by a patch is reported as moved", .enabled(if: Repository.kubectl != nil, "kubectl is not installed"))
    func renamedByPatch() throws {
        try seal("svc/web.plain.yaml", "svc/web.sealed.yaml", name: "web", namespace: "svc")
        try repository.write("svc/kustomization.yaml", """
            resources: [web.sealed.yaml]
            patches:
            - target: {kind: SealedSecret, name: web}
              patch: |-
                - op: replace
                  path: /metadata/name
                  value: frontend

            """, mode: 0o644)
        let result = try cachet(["check"])
        #expect(result.status == 1)
        #expect(result.outputText.contains("svc/web.sealed.yaml:2: SealedSecret web is sealed strict for svc/web, but svc builds it as svc/frontend"),
                "\(result.outputText)")
    }

    @Test("seal --kustomization: a file the build does not include is refused and nothing is left; --raw and stdout are usage errors")
    func sealForOverlayRefused() throws {
        try repository.write("elsewhere/x.plain.yaml", Self.secret(name: "x", namespace: "base"))
        let missing = try cachet(["seal", "-f", "elsewhere/x.plain.yaml", "-w", "elsewhere/x.sealed.yaml", "--kustomization", "overlays/prod"])
        #expect(missing.status == 1 && missing.error.contains("overlays/prod does not include elsewhere/x.sealed.yaml when built"), "\(missing.error)")
        #expect(!FileManager.default.fileExists(atPath: repository.path("elsewhere/x.sealed.yaml")), "the placeholder was left behind")

        let other = try cachet(["seal", "-f", "elsewhere/x.plain.yaml", "-w", "base/db.sealed.yaml", "--kustomization", "overlays/prod"])
        #expect(other.status == 1 && other.error.contains("base/db.sealed.yaml holds the SealedSecret base/db, and the Secret is base/x"), "\(other.error)")
        for arguments in [["--raw", "--kustomization", "overlays/prod"], ["-f", "elsewhere/x.plain.yaml", "--kustomization", "overlays/prod"]] {
            let usage = try cachet(["seal"] + arguments)
            #expect(usage.status == 64 && usage.error.contains("--kustomization needs -w FILE"), "\(usage.error)")
        }
    }

    /// Where the value is deployed decides the rule: a base's file sealed for prod's overlay goes to prod's key, not to
    /// the base's rule (review finding: it went to dev's).
    @Test("seal --kustomization follows the overlay's rule")
    func kustomizationRule() throws {
        let generated = try cachet(["keys", "generate", "--out", "keys/prod", "--rsa-bits", "2048"])
        #expect(generated.status == 0, "\(generated.error)")
        try repository.write(".cachet.yaml", "rules:\n  - path: \"overlays/prod/**\"\n    cert: keys/prod\n  - path: \"**\"\n    cert: keys/dev\n", mode: 0o644)
        let sealed = try cachet(["seal", "-f", "base/db.plain.yaml", "-w", "base/db.sealed.yaml", "--kustomization", "overlays/prod"])
        #expect(sealed.status == 0 && sealed.error.contains("cachet: overlays/prod: rule 1 of"), "\(sealed.error)")
        let built = try TestProcess.run(Repository.kubectl!, ["kustomize", "overlays/prod"], directory: root)
        #expect(try CachetProcess.run(["unseal", "--key", "keys/prod", "-f", "-"], stdin: built.output, in: root).status == 0)
        #expect(try CachetProcess.run(["unseal", "--key", "keys/dev", "-f", "-"], stdin: built.output, in: root).status != 0)
    }

    /// SIGTERM while kubectl builds (a slow one): the placeholder and the build's temporary directory are removed;
    /// and a TMPDIR reached through a symbolic link works (kustomize resolves links before `..`).
    @Test("seal --kustomization: interrupted, it leaves nothing; a symlinked TMPDIR works")
    func kustomizationInterrupted() throws {
        let scratch = try TemporaryDirectory()
        try FileManager.default.createDirectory(atPath: scratch.path("real/tmp"), withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: scratch.path("tmp"), withDestinationPath: scratch.path("real/tmp"))
        try scratch.write("bin/kubectl", "#!/bin/sh\nsleep 5\nexec \(Repository.kubectl!.path) \"$@\"\n", mode: 0o755)
        try repository.write("base/kustomization.yaml", "resources: [db.sealed.yaml, new.sealed.yaml]\n", mode: 0o644)
        try repository.write("new.plain.yaml", Self.secret(name: "new", namespace: "base"))
        let environment = ["PATH": scratch.path("bin") + ":/usr/bin:/bin", "TMPDIR": scratch.path("tmp"), "HOME": scratch.url.path]

        let process = Process()
        process.executableURL = CachetProcess.executable
        process.arguments = ["seal", "-f", "new.plain.yaml", "-w", "base/new.sealed.yaml", "--kustomization", "overlays/prod"]
        process.currentDirectoryURL = root
        process.environment = environment
        process.standardError = FileHandle.nullDevice
        try process.run()
        Thread.sleep(forTimeInterval: 1.5)
        #expect(FileManager.default.fileExists(atPath: repository.path("base/new.sealed.yaml")), "no placeholder while kubectl runs")
        kill(process.processIdentifier, SIGTERM)
        process.waitUntilExit()
        #expect(!FileManager.default.fileExists(atPath: repository.path("base/new.sealed.yaml")), "the placeholder was left behind")
        #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.path("real/tmp")).isEmpty, "the build's directory was left behind")

        let sealed = try CachetProcess.run(["seal", "-f", "new.plain.yaml", "-w", "base/new.sealed.yaml", "--kustomization", "overlays/prod"],
                                           in: root, environment: ["PATH": "/usr/bin:/bin", "TMPDIR": scratch.path("tmp"), "HOME": scratch.url.path])
        #expect(sealed.status == 0, "\(sealed.error)")
    }

    @Test("check: names from the repository are escaped, and fix commands quote them for the shell")
    func hostileNames() throws {
        try repository.write("a b;touch x.yaml", Self.secret(name: "odd", namespace: "dev"), mode: 0o644)
        let result = try cachet(["check", "--no-build", "a b;touch x.yaml"])
        let text = String(decoding: result.output, as: UTF8.self)
        #expect(result.status == 1 && text.contains("fix: cachet seal -f 'a b;touch x.yaml' -w 'a b;touch x.sealed.yaml'"), "\(text)")
    }

    @Test("usage: a missing path is exit 64; --no-build skips the overlay check")
    func usage() throws {
        let missing = try cachet(["check", "nowhere"])
        #expect(missing.status == 64 && missing.error.contains("nowhere: no such file or directory"), "\(missing.error)")
        let unbuilt = try cachet(["check", "--no-build"])
        #expect(unbuilt.status == 0, "\(String(decoding: unbuilt.output, as: UTF8.self))")
    }

    /// The hooks file as pre-commit reads it: `pre-commit try-repo` runs this repository's hook on the GitOps
    /// repository, as a user's three-line .pre-commit-config.yaml would.
    @Test("pre-commit runs the hook: a staged plaintext Secret fails the commit, the SealedSecret alone passes",
          .enabled(if: (try? TestProcess.run(program: "python3", ["-m", "pre_commit", "--version"]).status) == 0, "pre-commit is missing (scripts/bootstrap installs it)"))
    func preCommit() throws {
        let cachetDirectory = Repository.executable("cachet").deletingLastPathComponent().path
        let home = try TemporaryDirectory()
        let environment = TestProcess.Environment.inherited(adding: [
            "PATH": cachetDirectory + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"),
            "PRE_COMMIT_HOME": home.url.path, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
            "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com",
        ])
        try Self.run(Self.git!, ["add", "-A"], in: root)
        let passing = try TestProcess.run(program: "python3", ["-m", "pre_commit", "try-repo", Repository.root.path, "cachet-check", "--all-files"],
                                          environment: environment, directory: root)
        #expect(passing.status == 0, "\(String(decoding: passing.output, as: UTF8.self)) \(passing.error)")

        try repository.write("leak.yaml", Self.secret(name: "leak", namespace: "dev"), mode: 0o644)
        try Self.run(Self.git!, ["add", "leak.yaml"], in: root)
        let failing = try TestProcess.run(program: "python3", ["-m", "pre_commit", "try-repo", Repository.root.path, "cachet-check", "--all-files"],
                                          environment: environment, directory: root)
        let output = String(decoding: failing.output, as: UTF8.self)
        #expect(failing.status == 1, "\(output) \(failing.error)")
        #expect(output.contains("leak.yaml:4: Secret leak holds 1 value in plaintext"), "\(output)")
        #expect(!output.contains(Self.canary))
    }
}
