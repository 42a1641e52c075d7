import CachetTestSupport
import Foundation
import Testing

/// `cachet seal` and `cachet unseal` on manifests, end to end through the executable, fed by the real kubectl.
@Suite(.enabled(if: KubectlPath.found != nil, "kubectl is not installed (scripts/bootstrap installs it)"))
struct ManifestSealingTests {
    static let canary = "CANARY-9d2f-hunter2"

    let keys: GeneratedKeys
    init() throws { keys = try GeneratedKeys() }

    /// Runs kubectl and returns its stdout.
    func kubectl(_ arguments: [String]) throws -> Data {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: KubectlPath.found!)
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "kubectl \(arguments)")
        return data
    }

    func json(_ data: Data) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    /// Secrets as kubectl makes them, in the given format.
    func kubectlSecrets(_ format: String) throws -> [(name: String, data: Data)] {
        let directory = keys.directory
        try Data("{\"auths\":{\"r.example\":{\"auth\":\"\(Self.canary)\"}}}".utf8).write(to: directory.url.appendingPathComponent("config.json"))
        return [
            ("app", try kubectl(["create", "secret", "generic", "app", "-n", "team-a", "--from-literal=password=\(Self.canary)",
                                 "--from-literal=flag=yes", "--dry-run=client", "-o", format])),
            ("web", try kubectl(["create", "secret", "tls", "web", "-n", "team-a", "--cert", keys.certificate, "--key", keys.privateKey,
                                 "--dry-run=client", "-o", format])),
            ("pull", try kubectl(["create", "secret", "docker-registry", "pull", "-n", "team-a",
                                  "--from-file=.dockerconfigjson=" + directory.path("config.json"), "--dry-run=client", "-o", format])),
        ]
    }

    @Test("kubectl create secret generic|tls|docker-registry → seal → unseal gives kubectl's data back",
          arguments: ["yaml", "json"], ["yaml", "json"])
    func kubectlRoundTrip(inputFormat: String, outputFormat: String) throws {
        for (name, input) in try kubectlSecrets(inputFormat) {
            let sealed = try CachetProcess.run(["seal", "--cert", keys.certificate, "-o", outputFormat], stdin: input)
            #expect(sealed.status == 0, "\(name): \(sealed.error)")
            #expect(!sealed.outputText.contains(Self.canary))
            #expect(sealed.outputText.contains("SealedSecret"))
            let opened = try CachetProcess.run(["unseal", "--key", keys.keyDirectory, "-o", "json"], stdin: sealed.output)
            #expect(opened.status == 0, "\(name): \(opened.error)")
            let expected = try json(inputFormat == "json" ? input : try kubectlJSON(input))
            let actual = try json(opened.output)
            #expect(NSDictionary(dictionary: actual["data"] as? [String: Any] ?? [:])
                    == NSDictionary(dictionary: expected["data"] as? [String: Any] ?? [:]), "\(name)")
            #expect(actual["type"] as? String == expected["type"] as? String)
            let metadata = try #require(actual["metadata"] as? [String: Any])
            #expect(metadata["name"] as? String == name && metadata["namespace"] as? String == "team-a")
        }
    }

    /// kubectl's YAML as JSON, through PyYAML (reading it with our own reader would check nothing).
    func kubectlJSON(_ yaml: Data) throws -> Data {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", "import sys, json, yaml; print(json.dumps(yaml.safe_load(sys.stdin.read())))"]
        let input = Pipe(), output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        try process.run()
        try input.fileHandleForWriting.write(contentsOf: yaml)
        try input.fileHandleForWriting.close()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return data
    }

    @Test("every scope round-trips, and the scope annotation is on the SealedSecret", arguments: ["strict", "namespace-wide", "cluster-wide"])
    func scopes(scope: String) throws {
        let input = try kubectl(["create", "secret", "generic", "app", "-n", "team-a", "--from-literal=k=\(Self.canary)",
                                 "--dry-run=client", "-o", "yaml"])
        let sealed = try CachetProcess.run(["seal", "--cert", keys.certificate, "--scope", scope, "-o", "yaml"], stdin: input)
        #expect(sealed.status == 0, "\(sealed.error)")
        let topLevel = sealed.outputText.components(separatedBy: "spec:")[0]
        #expect(topLevel.contains("sealedsecrets.bitnami.com/\(scope): \"true\"") == (scope != "strict"))
        let opened = try CachetProcess.run(["unseal", "--key", keys.keyDirectory, "-o", "yaml"], stdin: sealed.output)
        #expect(opened.status == 0, "\(opened.error)")
        #expect(opened.outputText.contains("k: " + Data(Self.canary.utf8).base64EncodedString()))
    }

    @Test("-w writes atomically: the file appears only on success, and an old file survives a failure")
    func writeFile() throws {
        let directory = try TemporaryDirectory()
        let target = directory.path("app.sealed.yaml")
        let good = try kubectl(["create", "secret", "generic", "app", "-n", "team-a", "--from-literal=k=v", "--dry-run=client", "-o", "yaml"])
        let ok = try CachetProcess.run(["seal", "--cert", keys.certificate, "-w", target], stdin: good)
        #expect(ok.status == 0 && ok.output.isEmpty)
        let written = try String(contentsOfFile: target, encoding: .utf8)
        #expect(written.hasPrefix("---\napiVersion: bitnami.com/v1alpha1\n"), "-w ending in .yaml means YAML")

        let bad = good + Data("---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n".utf8)
        let failed = try CachetProcess.run(["seal", "--cert", keys.certificate, "-w", target], stdin: bad)
        #expect(failed.status == 1)
        #expect(failed.error.contains("document 2") && failed.error.contains("ConfigMap"))
        #expect(try String(contentsOfFile: target, encoding: .utf8) == written, "the old file is untouched")
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.url.path) == ["app.sealed.yaml"], "no temporary left")
    }

    @Test("-w onto the input file is refused before anything is read")
    func writeOntoInput() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("secret.yaml")
        let input = try kubectl(["create", "secret", "generic", "app", "-n", "team-a", "--from-literal=k=v", "--dry-run=client", "-o", "yaml"])
        try input.write(to: URL(fileURLWithPath: path))
        let result = try CachetProcess.run(["seal", "--cert", keys.certificate, "-f", path, "-w", path])
        #expect(result.status == 64)
        #expect(result.error.contains("-w names the input file"))
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == input)
    }

    /// Each bad input: a one-line error naming where, exit 1, nothing on stdout, no -w file, no canary.
    @Test("bad inputs fail with one line and write nothing", arguments: BadInput.all)
    func badInputs(_ bad: BadInput) throws {
        let directory = try TemporaryDirectory()
        let target = directory.path("out.yaml")
        var arguments = ["seal", "--cert", bad.certificate ?? keys.certificate, "-w", target]
        if bad.certificate != nil { arguments[2] = Repository.cryptoFixtures.appendingPathComponent(bad.certificate!).path }
        let result = try CachetProcess.run(arguments, stdin: Data(bad.input().utf8))
        #expect(result.status == 1, "\(bad.name): \(result.error)")
        let lines = result.error.split(separator: "\n")
        #expect(lines.count <= 2 && lines.first?.hasPrefix("cachet: error: ") == true, "\(bad.name): \(result.error)")
        #expect(result.error.contains(bad.expected), "\(bad.name): \(result.error)")
        #expect(!result.error.contains(Self.canary), "\(bad.name)")
        #expect(result.output.isEmpty)
        #expect(!FileManager.default.fileExists(atPath: target), "\(bad.name): nothing written")
    }

    struct BadInput: Sendable, CustomTestStringConvertible {
        let name: String
        let input: @Sendable () -> String
        let expected: String
        var certificate: String? = nil
        var testDescription: String { name }

        static let secret = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: app\n  namespace: team-a\n"
        static let all: [BadInput] = [
            BadInput(name: "alias bomb", input: {
                var lines = [secret + "stringData:", "  l0: &l0 \"\(canary)\""]
                for level in 1...8 { lines.append("  l\(level): &l\(level) [" + Array(repeating: "*l\(level - 1)", count: 9).joined(separator: ",") + "]") }
                return lines.joined(separator: "\n")
            }, expected: "expected a string, found a list"),
            BadInput(name: "alias value", input: { secret + "stringData:\n  a: &x \(canary)\n  b: *x\n" }, expected: "aliases (*x) are not allowed"),
            BadInput(name: "100k nested [", input: { secret + "stringData:\n  a: " + String(repeating: "[", count: 100_000) }, expected: "nested deeper than 64"),
            BadInput(name: "1 MiB of {", input: { String(repeating: "{", count: 1 << 20) }, expected: "<stdin>:1:2"),
            BadInput(name: "10 MB scalar", input: { secret + "stringData:\n  a: " + String(repeating: "x", count: 10_000_000) }, expected: "exceeds the limit"),
            BadInput(name: "duplicate keys", input: { secret + "stringData:\n  a: \(canary)\n  a: other\n" }, expected: "duplicate key \"a\" (first at line 7)"),
            BadInput(name: "non-Secret kind", input: { "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {a: \(canary)}\n" }, expected: "found v1 ConfigMap"),
            BadInput(name: "missing metadata.name", input: { "apiVersion: v1\nkind: Secret\nmetadata: {namespace: a}\nstringData: {a: \(canary)}\n" }, expected: "metadata.name: missing"),
            BadInput(name: "bad base64", input: { secret + "data:\n  a: \"\(canary)!\"\n" }, expected: "data.a: not valid base64"),
            BadInput(name: "YAML 1.1 boolean", input: { secret + "stringData:\n  a: \(canary)\n  flag: yes\n" }, expected: "stringData.flag: this unquoted value would be read as a boolean"),
            BadInput(name: "YAML 1.1 octal", input: { secret + "stringData:\n  mode: 0755\n" }, expected: "read as a number"),
            BadInput(name: "YAML 1.1 null", input: { secret + "stringData:\n  empty: ~\n" }, expected: "read as null"),
            BadInput(name: "no data", input: { secret }, expected: "--allow-empty-data"),
            BadInput(name: "expired certificate", input: { secret + "stringData:\n  a: \(canary)\n" }, expected: "expired", certificate: "expired.crt"),
            BadInput(name: "truncated YAML", input: { secret + "stringData:\n  a: \"\(canary)" }, expected: "<stdin>:"),
            BadInput(name: "truncated JSON", input: { "{\"apiVersion\": \"v1\", \"kind\": \"Secret\", \"stringData\": {\"a\": \"\(canary)" }, expected: "truncated JSON"),
            BadInput(name: "empty stream", input: { "---\n---\n" }, expected: "no Secret found in <stdin>"),
        ]
    }

    @Test("server-set fields and last-applied-configuration are dropped with a warning that holds no value")
    func strippedFields() throws {
        let input = """
            apiVersion: v1
            kind: Secret
            metadata:
              name: app
              namespace: team-a
              uid: 0b7c
              annotations:
                kubectl.kubernetes.io/last-applied-configuration: '{"stringData":{"a":"\(Self.canary)"}}'
                argocd.argoproj.io/sync-wave: "2"
            stringData: {a: "\(Self.canary)"}
            """
        let result = try CachetProcess.run(["seal", "--cert", keys.certificate, "-o", "yaml", "--keep-annotation", "argocd.argoproj.io/"],
                                           stdin: Data(input.utf8))
        #expect(result.status == 0)
        #expect(result.error.contains("cachet: warning: <stdin>: document 1 (Secret team-a/app): dropped metadata.uid"))
        #expect(result.error.contains("last-applied-configuration: it holds the whole Secret in plaintext"))
        #expect(!result.error.contains(Self.canary) && !result.outputText.contains(Self.canary))
        #expect(!result.outputText.contains("last-applied"))
        let topLevel = result.outputText.components(separatedBy: "spec:")[0]
        #expect(topLevel.contains("argocd.argoproj.io/sync-wave: \"2\""), "kept at the top level for Argo CD")
    }

    @Test("--merge-into changes only the merged items' lines")
    func mergeInto() throws {
        let directory = try TemporaryDirectory()
        let file = directory.path("app.sealed.yaml")
        let first = try kubectl(["create", "secret", "generic", "app", "-n", "team-a", "--from-literal=a=1", "--from-literal=c=3",
                                 "--dry-run=client", "-o", "yaml"])
        #expect(try CachetProcess.run(["seal", "--cert", keys.certificate, "-w", file], stdin: first).status == 0)
        var before = try String(contentsOfFile: file, encoding: .utf8)
        before = "# managed by the platform team\n" + before.replacingOccurrences(of: "  name: app\n  namespace", with: "  name: app # keep\n  namespace")
        try before.write(toFile: file, atomically: true, encoding: .utf8)

        let update = try kubectl(["create", "secret", "generic", "app", "-n", "team-a", "--from-literal=b=2", "--from-literal=c=33",
                                  "--dry-run=client", "-o", "yaml"])
        let merged = try CachetProcess.run(["seal", "--cert", keys.certificate, "--merge-into", file], stdin: update)
        #expect(merged.status == 0, "\(merged.error)")
        let after = try String(contentsOfFile: file, encoding: .utf8)
        let beforeLines = before.split(separator: "\n"), afterLines = after.split(separator: "\n")
        let removed = Set(beforeLines).subtracting(afterLines), added = Set(afterLines).subtracting(beforeLines)
        #expect(removed.count == 1 && removed.first!.hasPrefix("    c: "), "only c's old line goes")
        #expect(added.count == 2 && added.allSatisfy { $0.hasPrefix("    b: ") || $0.hasPrefix("    c: ") }, "\(added)")
        #expect(after.hasPrefix("# managed by the platform team\n") && after.contains("name: app # keep"))

        let opened = try CachetProcess.run(["unseal", "--key", keys.keyDirectory, "-f", file, "-o", "json"])
        let data = try #require(try json(opened.output)["data"] as? [String: String])
        #expect(data == ["a": "MQ==", "b": "Mg==", "c": "MzM="])

        let other = try kubectl(["create", "secret", "generic", "other", "-n", "team-a", "--from-literal=x=1", "--dry-run=client", "-o", "yaml"])
        let refused = try CachetProcess.run(["seal", "--cert", keys.certificate, "--merge-into", file], stdin: other)
        #expect(refused.status == 1 && refused.error.contains("named \"other\""))
        #expect(try String(contentsOfFile: file, encoding: .utf8) == after)
    }

    @Test("unseal takes a Secret backup as --key, and -w writes plaintext with mode 0600")
    func keyBackup() throws {
        let backup = try kubectl(["create", "secret", "tls", "sealed-secrets-key1", "-n", "kube-system", "--cert", keys.certificate,
                                  "--key", keys.privateKey, "--dry-run=client", "-o", "yaml"])
        let directory = try TemporaryDirectory()
        let backupPath = directory.path("main.key")
        let list = "apiVersion: v1\nkind: List\nitems:\n" + String(decoding: backup, as: UTF8.self)
            .split(separator: "\n").enumerated().map { ($0.offset == 0 ? "- " : "  ") + $0.element }.joined(separator: "\n") + "\n"
        try list.write(toFile: backupPath, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: backupPath)

        let input = try kubectl(["create", "secret", "generic", "app", "-n", "team-a", "--from-literal=k=\(Self.canary)", "--dry-run=client", "-o", "yaml"])
        let sealed = try CachetProcess.run(["seal", "--cert", keys.certificate], stdin: input)
        let output = directory.path("app.yaml")
        let opened = try CachetProcess.run(["unseal", "--key", backupPath, "-w", output], stdin: sealed.output)
        #expect(opened.status == 0, "\(opened.error)")
        #expect(try String(contentsOfFile: output, encoding: .utf8).contains(Data(Self.canary.utf8).base64EncodedString()))
        #expect(try FileManager.default.attributesOfItem(atPath: output)[.posixPermissions] as? Int == 0o600)

        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: backupPath)
        let exposed = try CachetProcess.run(["unseal", "--key", backupPath], stdin: sealed.output)
        #expect(exposed.status == 1 && exposed.error.contains("chmod 600"))
    }

    @Test("a wrong key fails closed, naming the items and writing nothing")
    func wrongKey() throws {
        let other = try GeneratedKeys()
        let input = try kubectl(["create", "secret", "generic", "app", "-n", "team-a", "--from-literal=k=\(Self.canary)",
                                 "--from-literal=j=x", "--dry-run=client", "-o", "yaml"])
        let sealed = try CachetProcess.run(["seal", "--cert", keys.certificate], stdin: input)
        let opened = try CachetProcess.run(["unseal", "--key", other.keyDirectory], stdin: sealed.output)
        #expect(opened.status == 1 && opened.output.isEmpty)
        #expect(opened.error.contains("cannot decrypt j, k with the key"))
        #expect(!opened.error.contains(Self.canary))
    }
}

enum KubectlPath {
    static let found = ["/usr/bin/kubectl", "/usr/local/bin/kubectl"].first { FileManager.default.isExecutableFile(atPath: $0) }
}
