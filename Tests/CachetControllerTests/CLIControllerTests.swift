import CachetCrypto
import CachetDevCluster
import CachetKube
import CachetManifests
import CachetTestSupport
import Foundation
import Testing
@testable import CachetController

/// `cachet cert`, `validate`, `reencrypt`, and `seal` without `--cert`, against a running controller reached
/// through the dev API server's service proxy (as kubeseal reaches Bitnami's) or directly.
@Suite("cachet CLI: talking to the controller")
struct CLIControllerTests {
    static let cachet = Repository.executable("cachet")

    /// A harness whose cluster has the controller's Service (named as kubeseal expects) and a kubeconfig file.
    static func with(_ body: (ControllerHarness, URL, URL) async throws -> Void) async throws {
        try await ControllerHarness.with { harness in
            let service = ManifestValue.object([
                ("apiVersion", .string("v1")), ("kind", .string("Service")),
                ("metadata", .object([("name", .string("sealed-secrets-controller")), ("namespace", .string("kube-system")),
                                      ("annotations", .stringMap([DevCluster.backendAnnotation: harness.apiURL]))])),
                ("spec", .object([("ports", .array([.object([("name", .string("http")), ("port", .number("8080"))])]))])),
            ])
            _ = try await harness.client.create(.services, service, namespace: "kube-system")
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("cachet-cli-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: directory) }
            let kubeconfig = directory.appendingPathComponent("kubeconfig")
            try harness.cluster.kubeconfig().write(to: kubeconfig, atomically: true, encoding: .utf8)
            try await body(harness, directory, kubeconfig)
        }
    }

    static func run(_ arguments: [String], stdin: String = "", environment: [String: String] = [:]) async throws -> ProcessResult {
        // The CLI blocks on its HTTP calls; run it off the cooperative pool so the in-process controller keeps serving.
        try await withCheckedThrowingContinuation { continuation in
            Thread {
                continuation.resume(with: Result { try TestProcess.run(cachet, arguments, stdin: Data(stdin.utf8), environment: .inherited(adding: environment)) })
            }.start()
        }
    }

    static let secretYAML = """
        apiVersion: v1
        kind: Secret
        metadata:
          name: cli-made
          namespace: team-a
        stringData:
          password: "\(Support.canary)"
        """

    @Test("seal without --cert fetches the certificate through the API server; the controller then unseals the result")
    func sealWithoutCert() async throws {
        try await Self.with { harness, directory, kubeconfig in
            let sealed = try await Self.run(["seal", "--kubeconfig", kubeconfig.path, "-o", "yaml"], stdin: Self.secretYAML)
            #expect(sealed.status == 0, "\(sealed.error)")
            let object = try #require(try ManifestReader.objects(in: ManifestReader.documents(in: [UInt8](sealed.output))).first)
            _ = try await harness.apply(ManifestValue(node: object.node))
            try await eventually("the Secret") { ControllerHarness.data(await harness.secret("cli-made")) == ["password": Support.canary] }
            #expect(!sealed.error.contains(Support.canary) && !sealed.output.contains(Data(Support.canary.utf8)))
        }
    }

    @Test("cert: through the service proxy, by env-named Service, or --controller-url; refusals are one clear line")
    func cert() async throws {
        try await Self.with { harness, directory, kubeconfig in
            let served = try await harness.request(harness.apiURL + "/v1/cert.pem").body
            let proxied = try await Self.run(["cert", "--kubeconfig", kubeconfig.path])
            #expect(proxied.status == 0, "\(proxied.error)")
            #expect([UInt8](proxied.output) == served)
            let direct = try await Self.run(["cert", "--controller-url", harness.apiURL])
            #expect([UInt8](direct.output) == served)

            let missing = try await Self.run(["cert", "--kubeconfig", kubeconfig.path], environment: ["SEALED_SECRETS_CONTROLLER_NAME": "nope"])
            #expect(missing.status == 1)
            #expect(missing.error.hasPrefix("cachet: error: no Service kube-system/nope"), "\(missing.error)")
            #expect(missing.error.contains("--controller-name"))

            let plain = try await Self.run(["cert", "--controller-url", "http://192.0.2.1:8080"])
            #expect(plain.status == 1 && plain.error.contains("plain http:// is accepted only for"), "\(plain.error)")
        }
    }

    /// The README's by-hand flow ran `cachet cert` right after starting the controller: 503 (no key yet), an empty
    /// file, and `seal` then failed. `cert` waits for a key being made; `--cert http://127.0.0.1:…` (a port-forward)
    /// is accepted as `--controller-url` is.
    @Test("cert waits for a controller still making its key; --cert takes plain http on loopback")
    func certWhileStarting() async throws {
        try await ControllerHarness.withKeysDelayed(failures: 6) { url in
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("cachet-cert-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: directory) }
            let file = directory.appendingPathComponent("cluster.crt").path
            let fetched = try await Self.run(["cert", "--controller-url", url, "-w", file])
            #expect(fetched.status == 0, "\(fetched.error)")
            #expect(fetched.error.contains("has no sealing key yet; waiting"), "it did have to wait: \(fetched.error)")
            #expect(try String(contentsOfFile: file, encoding: .utf8).hasPrefix("-----BEGIN CERTIFICATE-----"))
            let sealed = try await Self.run(["seal", "--raw", "--scope", "cluster-wide", "--cert", url + "/v1/cert.pem"], stdin: "v")
            #expect(sealed.status == 0 && !sealed.output.isEmpty, "\(sealed.error)")
        }
    }

    @Test("validate: exit 0 when all open; exit 1 naming each document that does not")
    func validate() async throws {
        try await Self.with { harness, directory, kubeconfig in
            let good = try ManifestFormat.yaml.writeBody(try ControllerHarness.sealed("v1"))
            var moved = try ControllerHarness.sealed("v2")
            moved.setValue(.string("team-b"), at: ["metadata", "namespace"])
            let file = directory.appendingPathComponent("sealed.yaml")
            try Data(good).write(to: file)
            let ok = try await Self.run(["validate", "--kubeconfig", kubeconfig.path, "-f", file.path])
            #expect(ok.status == 0, "\(ok.error)")

            try Data(good + Array("\n---\n".utf8) + (try ManifestFormat.yaml.writeBody(moved))).write(to: file)
            let bad = try await Self.run(["validate", "--kubeconfig", kubeconfig.path, "-f", file.path])
            #expect(bad.status == 1)
            #expect(bad.error.contains("document 2 (SealedSecret team-b/v2): the controller cannot decrypt it"), "\(bad.error)")
            #expect(!bad.error.contains("document 1"))

            try Data("apiVersion: v1\nkind: Secret\nmetadata: {name: x}\n".utf8).write(to: file)
            let notSealed = try await Self.run(["validate", "--kubeconfig", kubeconfig.path, "-f", file.path])
            #expect(notSealed.status == 1 && notSealed.error.contains("expected a SealedSecret"), "\(notSealed.error)")
        }
    }

    @Test("reencrypt: rewrites the file in place to the newest key, changing only the values and the key hint")
    func reencrypt() async throws {
        try await Self.with { harness, directory, kubeconfig in
            let original = "# kept comment\n" + String(decoding: try ManifestFormat.yaml.writeBody(try ControllerHarness.sealed("rot")), as: UTF8.self)
            let file = directory.appendingPathComponent("rot.yaml")
            try original.write(to: file, atomically: true, encoding: .utf8)
            await harness.controller.keys.renewNow()
            let newest = try #require(harness.controller.keys.newestSealingKey)

            let result = try await Self.run(["reencrypt", "--kubeconfig", kubeconfig.path, "-f", file.path])
            #expect(result.status == 0, "\(result.error)")
            let rewritten = try String(contentsOf: file, encoding: .utf8)
            #expect(rewritten.hasPrefix("# kept comment\n"))
            #expect(rewritten != original)
            let changed = zip(original.split(separator: "\n"), rewritten.split(separator: "\n")).filter { $0 != $1 }
            #expect(changed.allSatisfy { $0.0.contains("password:") || $0.0.contains(Annotations.sealedBy) }, "\(changed)")

            let sealed = try SealedSecretManifest(try #require(try ManifestReader.objects(in: ManifestReader.documents(in: Array(rewritten.utf8))).first))
            #expect(sealed.sealedBy == [newest.keyID], "every value re-encrypted: only the new key is named")
            let value = try #require(sealed.encryptedData["password"])
            let opened = try harness.controller.keys.keyRing.open(sealedValue: value, scope: .strict(namespace: "team-a", name: "rot"), item: "password")
            #expect(opened.opening.keyID == newest.keyID)

            // Something the controller cannot open is not rewritten.
            var moved = try ControllerHarness.sealed("rot")
            moved.setValue(.string("team-b"), at: ["metadata", "namespace"])
            let movedText = String(decoding: try ManifestFormat.yaml.writeBody(moved), as: UTF8.self)
            try movedText.write(to: file, atomically: true, encoding: .utf8)
            let refused = try await Self.run(["reencrypt", "--controller-url", harness.apiURL, "-f", file.path])
            #expect(refused.status == 1 && refused.error.contains("nothing was written"), "\(refused.error)")
            #expect(try String(contentsOf: file, encoding: .utf8) == movedText)

            // Several -f: each file is rewritten (once silently only the last); one that cannot be opened stops all.
            let first = directory.appendingPathComponent("a.yaml"), second = directory.appendingPathComponent("b.yaml")
            for (url, name) in [(first, "a"), (second, "b")] {
                try Data(try ManifestFormat.yaml.writeBody(try ControllerHarness.sealed(name))).write(to: url)
            }
            let before = try [first, second].map { try String(contentsOf: $0, encoding: .utf8) }
            let stopped = try await Self.run(["reencrypt", "--controller-url", harness.apiURL, "-f", first.path, "-f", file.path])
            let firstAfter = try String(contentsOf: first, encoding: .utf8)
            #expect(stopped.status == 1 && firstAfter == before[0])
            let both = try await Self.run(["reencrypt", "--controller-url", harness.apiURL, "-f", first.path, "-f", second.path])
            #expect(both.status == 0, "\(both.error)")
            let after = try [first, second].map { try String(contentsOf: $0, encoding: .utf8) }
            #expect(after[0] != before[0] && after[1] != before[1])
            let validated = try await Self.run(["validate", "--controller-url", harness.apiURL, "-f", first.path, "-f", second.path])
            #expect(validated.status == 0 && validated.error.contains("a.yaml") && validated.error.contains("b.yaml"), "\(validated.error)")
        }
    }
}
