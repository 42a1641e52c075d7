import CachetCrypto
import CachetTestSupport
import Foundation
import Testing
@testable import CachetManifests

struct SecretManifestTests {
    static let header = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: app\n  namespace: team-a\n"

    @Test("data is base64, stringData is text, and stringData wins for the same key")
    func items() throws {
        let secret = try Support.secret(Self.header + """
            data:
              a: aHVudGVy
              b: b2xk
            stringData:
              b: new
              c: |
                line one
                line two
            """)
        #expect(Support.text(secret.items["a"]) == "hunter")
        #expect(Support.text(secret.items["b"]) == "new")
        #expect(Support.text(secret.items["c"]) == "line one\nline two", "a literal block keeps its line breaks")
    }

    @Test("values YAML 1.1 would coerce are refused with \"quote it\", without quoting the value", arguments: [
        "flag: yes", "mode: 0755", "on: x", "empty: ~", "count: 12", "when: 2001-12-14", "ratio: 1e3",
    ])
    func coercedValues(line: String) {
        Support.expectError(["stringData", "quote it", "document 1"]) {
            _ = try Support.secret(Self.header + "stringData:\n  " + line + "\n")
        }
        do {
            _ = try Support.secret(Self.header + "stringData:\n  " + line + "\n")
        } catch {
            let value = line.split(separator: ":", maxSplits: 1)[1].trimmingCharacters(in: .whitespaces)
            if value.count > 1 { #expect(!"\(error)".contains(value), "the value never appears in the error") }
        }
    }

    @Test("quoted forms of the same values are text")
    func quotedValues() throws {
        let secret = try Support.secret(Self.header + "stringData:\n  flag: \"yes\"\n  mode: '0755'\n  empty: \"\"\n")
        #expect(Support.text(secret.items["flag"]) == "yes")
        #expect(Support.text(secret.items["mode"]) == "0755")
        #expect(Support.text(secret.items["empty"]) == "")
    }

    @Test("bad inputs are refused with where and why", arguments: [
        ("data:\n  a: \"not base64!\"\n", ["data.a", "not valid base64", "7:6"]),
        ("data:\n  \"bad/name\": YQ==\n", ["item name \"bad/name\" is not valid"]),
        ("stringData:\n  a: [1]\n", ["expected a string, found a list"]),
        ("stringData:\n  a: *x\n", ["aliases (*x) are not allowed"]),
        ("stringData: &s {a: b}\ndata: *s\n", ["aliases (*s) are not allowed"]),
        ("extra: 1\n", ["unknown field \"extra\""]),
        ("immutable: yes\n", ["write true or false"]),
        ("stringData:\n  <<: {a: b}\n", ["merge keys"]),
        ("data:\n  ..data: YQ==\n", ["item name \"..data\" is not valid", "not starting with '..'"]),
        ("data:\n  \"a\\nb\\u001b[31m\": YQ==\n", ["item name \"a\\nb\\u{1b}[31m\" is not valid"]),
    ])
    func badInputs(tail: String, fragments: [String]) {
        Support.expectError(fragments) { _ = try Support.secret(Self.header + tail) }
    }

    @Test("another kind is refused, naming it")
    func otherKinds() {
        Support.expectError(["expected a Secret", "v1 ConfigMap"]) {
            _ = try Support.secret("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n")
        }
        Support.expectError(["expected a Secret", "apps/v1 Deployment"]) {
            _ = try Support.secret("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: a}\n")
        }
    }

    @Test("more than 1 MiB of values is refused")
    func sizeLimit() {
        let big = String(repeating: "x", count: 600_000)
        Support.expectError(["Kubernetes refuses Secrets over 1 MiB"]) {
            _ = try Support.secret(Self.header + "stringData:\n  a: \(big)\n  b: \(big)\n")
        }
    }

    @Test("type, immutable, labels and annotations are read; null labels are empty")
    func fields() throws {
        let secret = try Support.secret("""
            apiVersion: v1
            kind: Secret
            metadata:
              name: app
              labels:
              annotations: {"a.b/c": "d"}
              finalizers: [x]
            type: kubernetes.io/tls
            immutable: true
            data: {tls.crt: YQ==, tls.key: Yg==}
            """)
        #expect(secret.type == "kubernetes.io/tls")
        #expect(secret.immutable == true)
        #expect(secret.metadata.labels.isEmpty)
        #expect(secret.metadata.annotations == ["a.b/c": "d"])
        #expect(secret.metadata.field("finalizers") == .array([.string("x")]))
    }

    @Test("kubectl's own output reads, in YAML and JSON", .enabled(if: Repository.kubectl != nil, "kubectl is not installed"),
          arguments: ["yaml", "json"])
    func kubectlOutput(format: String) throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("cachet-kubectl-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let key = directory.appendingPathComponent("tls.key").path
        try Support.privateKey.pkcs1PEM().withUnsafeBytes { try Data($0).write(to: URL(fileURLWithPath: key)) }
        let certificate = Repository.cryptoFixtures.appendingPathComponent("rsa2048.crt").path
        try Data("{\"auths\":{}}".utf8).write(to: directory.appendingPathComponent("config.json"))
        let commands = [
            ["create", "secret", "generic", "app", "-n", "team-a", "--from-literal=password=hunter2", "--from-literal=flag=yes"],
            ["create", "secret", "tls", "web", "--cert", certificate, "--key", key],
            ["create", "secret", "docker-registry", "pull", "--from-file=.dockerconfigjson=" + directory.appendingPathComponent("config.json").path],
        ]
        for command in commands {
            let output = try Support.run(["kubectl"] + command + ["--dry-run=client", "-o", format])
            let secret = try SecretManifest(try #require(try ManifestReader.objects(in: ManifestReader.documents(in: Array(output))).first))
            #expect(secret.metadata.name == command[3])
            #expect(!secret.items.isEmpty)
        }
    }
}
