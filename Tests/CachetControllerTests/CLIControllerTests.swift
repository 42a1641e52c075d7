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
    static func with(
        cluster configureCluster: (inout DevCluster.Settings) -> Void = { _ in }, configure: (inout Controller.Settings) -> Void = { _ in },
        _ body: (ControllerHarness, URL, URL) async throws -> Void
    ) async throws {
        try await ControllerHarness.with(cluster: configureCluster, configure: configure) { harness in
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
        try await TestProcess.runOffPool(cachet, arguments, stdin: Data(stdin.utf8), environment: .inherited(adding: environment))
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

    @Test("keys report --cluster: the cluster's SealedSecrets counted per key, the controller's key current")
    func keysReportCluster() async throws {
        try await Self.with { harness, directory, kubeconfig in
            for name in ["r1", "r2"] { _ = try await harness.apply(ControllerHarness.sealed(name, items: ["a": "x", "b": "y"])) }
            let report = try await Self.run(["keys", "report", "--cluster", "--kubeconfig", kubeconfig.path])
            let text = String(decoding: report.output, as: UTF8.self)
            #expect(report.status == 0, "\(report.error)")
            let line = text.split(separator: "\n").first { $0.hasPrefix(FixtureKeys.sealingKey.keyID.hex) }.map(String.init) ?? ""
            #expect(line.contains("  0     4        current") && line.hasSuffix("controller (newest)"), "\(text)")
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

    @Test("reencrypt through the controller: many objects per request (a List), across files; Bitnami's one-per-request limit is not the pace")
    func reencryptInBatches() async throws {
        try await Self.with { harness, directory, kubeconfig in
            // 150 objects in 30 files of 5: one per request would take 75 s at the default 2 requests a second.
            var files: [URL] = []
            for file in 0..<30 {
                let url = directory.appendingPathComponent("f\(file).yaml")
                try Data(try ManifestFormat.yaml.write(try (0..<5).map { try ControllerHarness.sealed("s\(file)-\($0)") })).write(to: url)
                files.append(url)
            }
            await harness.controller.keys.renewNow()
            let newest = try #require(harness.controller.keys.newestSealingKey)
            let result = try await Self.run(["reencrypt", "--kubeconfig", kubeconfig.path] + files.flatMap { ["-f", $0.path] })
            #expect(result.status == 0, "\(result.error)")
            #expect(result.error.contains("re-encrypted 150 of 150 SealedSecrets"), "\(result.error)")
            for (index, url) in files.enumerated() {
                let objects = try ManifestReader.objects(in: ManifestReader.documents(in: Array(try Data(contentsOf: url))))
                #expect(objects.count == 5)
                for (item, object) in objects.enumerated() {
                    let sealed = try SealedSecretManifest(object)
                    #expect(sealed.metadata.name == "s\(index)-\(item)")
                    #expect(sealed.sealedBy == [newest.keyID])
                }
            }
            // 64 items a request: 3 requests, not 150.
            let requests = harness.controller.metrics.render().split(separator: "\n")
                .filter { $0.hasPrefix("sealed_secrets_controller_http_requests_total{") && $0.contains("path=\"/v1/rotate\"") }
                .compactMap { $0.split(separator: " ").last.flatMap { Int($0) } }.reduce(0, +)
            #expect(requests <= 4, "\(requests) requests")
        }
    }

    /// A List whose objects do not open, with many keys and a small per-request budget, once made the CLI ask again
    /// for ever (every item "send it again"). The first object of a List is always tried: the command ends, naming it.
    @Test("reencrypt of an object no key opens, among others, with several keys and a small budget: a clear failure, never a loop")
    func reencryptFailsFast() async throws {
        try await Self.with(configure: { $0.apiWork.maxOperationsPerRequest = 8 }) { harness, directory, kubeconfig in
            await harness.controller.keys.renewNow()
            await harness.controller.keys.renewNow()
            try await eventually("three keys") { harness.controller.keys.keyCount == 3 }
            let stranger = try SealingKey(certificate: try Certificate.selfSigned(for: try RSAPrivateKey.generate(bits: 2048)))
            let foreign = try ControllerHarness.sealed("foreign", items: ["a": "1", "b": "2", "c": "3"], sealingKey: stranger)
            let file = directory.appendingPathComponent("mixed.yaml")
            let objects = try (0..<3).map { try ControllerHarness.sealed("ok\($0)") } + [foreign] + (3..<10).map { try ControllerHarness.sealed("ok\($0)") }
            try Data(try ManifestFormat.yaml.write(objects)).write(to: file)
            let before = try Data(contentsOf: file)
            let result = try await TestProcess.runOffPool(URL(fileURLWithPath: "/usr/bin/timeout"),
                                                          ["60", Self.cachet.path, "reencrypt", "--kubeconfig", kubeconfig.path, "-f", file.path])
            #expect(result.status == 1, "\(result.error)")
            #expect(result.error.contains("document 4 (SealedSecret team-a/foreign): the controller cannot decrypt it"), "\(result.error)")
            #expect(try Data(contentsOf: file) == before, "a file was written")
        }
    }

    /// Starts one of Tests/Tools' Python servers, which prints its port on its first line; returns it and the port.
    static func startTool(_ name: String, log: String) throws -> (Process, Int) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = [Repository.root.appendingPathComponent("Tests/Tools/\(name)").path, log]
        let portPipe = Pipe()
        process.standardOutput = portPipe
        try process.run()
        var portLine = Data()
        while !portLine.contains(0x0A) {
            let byte = portPipe.fileHandleForReading.readData(ofLength: 1)
            if byte.isEmpty { break }
            portLine += byte
        }
        guard let port = Int(String(decoding: portLine, as: UTF8.self).filter(\.isNumber)) else {
            process.terminate()
            process.waitUntilExit()
            throw KubeError(.transport, "\(name) printed no port")
        }
        return (process, port)
    }

    /// Bitnami's controller reads a List as one (empty) SealedSecret and answers 200 with it: the CLI notices that
    /// the answer is no List of results and sends one object per request, as before.
    @Test("reencrypt against a controller that does not take a List (Bitnami's): one object per request, in order", .timeLimit(.minutes(1)))
    func reencryptFallsBackForBitnami() async throws {
        let log = try TemporaryFile("", name: "rotate.log")
        let (server, port) = try Self.startTool("bitnami-rotate.py", log: log.path)
        defer { server.terminate(); server.waitUntilExit() }
        let file = try TemporaryFile(String(decoding: try ManifestFormat.yaml.write(try (0..<3).map { try ControllerHarness.sealed("b\($0)") }), as: UTF8.self),
                                     name: "three.yaml")
        let result = try await Self.run(["reencrypt", "--controller-url", "http://127.0.0.1:\(port)", "-f", file.path])
        #expect(result.status == 0, "\(result.error)")
        #expect(try String(contentsOfFile: log.path, encoding: .utf8) == "List\nSealedSecret\nSealedSecret\nSealedSecret\n")
        let names = try ManifestReader.objects(in: ManifestReader.documents(in: Array(try Data(contentsOf: URL(fileURLWithPath: file.path)))))
            .map { try SealedSecretManifest($0).metadata.name }
        #expect(names == ["b0", "b1", "b2"])
    }

    @Test("through an exec credential plugin: --context picks it, its token reaches the API server, a refused one is replaced once; failures are kubectl's")
    func execPlugin() async throws {
        let plugin = try CredentialPlugin()
        let tls = try DevCluster.TLSMaterial.generate()
        try await Self.with(cluster: { $0.bearerToken = "harness-token"; $0.bearerTokenFile = plugin.accepted; $0.tls = tls }) { harness, directory, _ in
            let kubeconfig = directory.appendingPathComponent("exec-kubeconfig").path
            try plugin.kubeconfig(server: harness.cluster.url, certificateAuthority: tls.certificateAuthorityPEM)
                .write(toFile: kubeconfig, atomically: true, encoding: .utf8)
            let served = try await harness.request(harness.apiURL + "/v1/cert.pem").body

            let fetched = try await Self.run(["cert", "--kubeconfig", kubeconfig, "--context", "plugin"])
            #expect(fetched.status == 0, "\(fetched.error)")
            #expect([UInt8](fetched.output) == served)
            #expect(plugin.runs == 1, "one run for the Service lookup and the proxied request")

            // The first token the plugin hands out is already revoked: 401, one more run, and the request repeated.
            try plugin.setSequence(["revoked", "token-2"])
            try plugin.setToken("token-2", accepted: ["token-2"])
            let refreshed = try await Self.run(["cert", "--kubeconfig", kubeconfig, "--context", "plugin"])
            #expect(refreshed.status == 0, "\(refreshed.error)")
            #expect(plugin.runs == 3)

            // --token replaces the plugin altogether.
            let overridden = try await Self.run(["cert", "--kubeconfig", kubeconfig, "--context", "plugin", "--token", "harness-token"])
            #expect(overridden.status == 0 && plugin.runs == 3, "\(overridden.error)")

            try plugin.setFailing(true)
            let failed = try await Self.run(["cert", "--kubeconfig", kubeconfig, "--context", "plugin"])
            #expect(failed.status == 1)
            #expect(failed.error.contains("cachet: error: getting credentials: exec: executable credential-plugin failed with exit code 3"), "\(failed.error)")
            #expect(failed.error.contains("credential-plugin: the identity provider said no"), "the plugin's stderr is the user's")

            try plugin.kubeconfig(server: harness.cluster.url, certificateAuthority: tls.certificateAuthorityPEM, command: "no-such-credential-plugin")
                .write(toFile: kubeconfig, atomically: true, encoding: .utf8)
            let missing = try await Self.run(["cert", "--kubeconfig", kubeconfig, "--context", "plugin"])
            #expect(missing.status == 1)
            #expect(missing.error == """
                cachet: error: getting credentials: exec: executable no-such-credential-plugin not found
                cachet: hint: install credential-plugin from your identity team's page

                """, "\(missing.error)")
        }
    }

    @Test("proxy-url and tls-server-name: the CLI and the controller's client both tunnel through the proxy and check the certificate against the name given",
          .timeLimit(.minutes(1)), arguments: [true, false])
    func proxyAndServerName(proxied: Bool) async throws {
        // A certificate that names only api.internal: NIOSSL (the controller's client) also accepts a certificate that
        // names the IP address it connected to, so one for 127.0.0.1 would pass whatever tls-server-name says.
        let tls = try DevCluster.TLSMaterial.generate(serverNames: ["DNS:api.internal"])
        let log = try TemporaryFile("", name: "proxy.log")
        let (proxy, proxyPort) = try Self.startTool("connect-proxy.py", log: log.path)
        defer { proxy.terminate(); proxy.waitUntilExit() }

        try await Self.with(cluster: { $0.bearerToken = "harness-token"; $0.tls = tls }) { harness, directory, _ in
            func kubeconfig(serverName: String) throws -> String {
                let path = directory.appendingPathComponent("proxied-\(serverName)").path
                try """
                    apiVersion: v1
                    kind: Config
                    current-context: proxied
                    clusters:
                    - name: dev
                      cluster:
                        server: \(harness.cluster.url)
                        certificate-authority-data: \(Data(tls.certificateAuthorityPEM).base64EncodedString())
                        tls-server-name: \(serverName)
                    \(proxied ? "    proxy-url: http://squid:pa55@127.0.0.1:\(proxyPort)" : "")
                    contexts:
                    - name: proxied
                      context: {cluster: dev, user: me}
                    users:
                    - name: me
                      user: {token: harness-token}
                    """.write(toFile: path, atomically: true, encoding: .utf8)
                return path
            }
            let apiPort = harness.cluster.url.split(separator: ":").last.map(String.init) ?? ""
            let good = try kubeconfig(serverName: "api.internal")
            let fetched = try await Self.run(["cert", "--kubeconfig", good])
            #expect(fetched.status == 0, "\(fetched.error)")
            // The client is shut down whatever the request does (one left open stops the process in its deinit).
            func namespaceCount(_ kubeconfig: String) async throws -> Result<Int, any Error> {
                let client = try KubeClient(config: try KubeConfig.load(paths: [kubeconfig]), retry: .init(maxAttempts: 1))
                let result: Result<Int, any Error>
                do { result = .success(try await client.list(.namespaces).items.count) } catch { result = .failure(error) }
                try await client.shutdown()
                return result
            }
            #expect(try await namespaceCount(good).get() >= 4)
            let tunnels = try String(contentsOfFile: log.path, encoding: .utf8).split(separator: "\n")
            #expect(!proxied || tunnels.count >= 2 && tunnels.allSatisfy { $0 == "127.0.0.1:\(apiPort) Basic \(Data("squid:pa55".utf8).base64EncodedString())" },
                    "\(tunnels)")

            // The server's certificate names api.internal, not this: both clients refuse it.
            let wrong = try kubeconfig(serverName: "api.example")
            let refused = try await Self.run(["cert", "--kubeconfig", wrong])
            #expect(refused.status == 1 && refused.error.contains("not trusted"), "\(refused.error)")
            await #expect(throws: KubeError.self) { _ = try await namespaceCount(wrong).get() }
        }
    }
}
