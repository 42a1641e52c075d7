import CachetCrypto
import CachetManifests
import CachetTestSupport
import Foundation
import Testing
@testable import CachetController

/// Scripts written for kubeseal, run unchanged with `kubeseal` resolving to Cachet (a symlink to `cachet`): the
/// invocations of Bitnami's README, verbatim, against a controller reached through the dev API server, and the
/// real kubectl.
@Suite("cachet as kubeseal", .enabled(if: Repository.kubectl != nil, "kubectl is not installed"))
struct KubesealModeTests {
    /// Runs a shell script in `directory` with a `kubeseal` symlink first on PATH and the cluster's kubeconfig.
    static func shell(_ script: String, in directory: URL, kubeconfig: URL, environment: [String: String] = [:]) async throws -> ProcessResult {
        let bin = directory.appendingPathComponent("bin")
        if !FileManager.default.fileExists(atPath: bin.path) {
            try FileManager.default.createDirectory(at: bin, withIntermediateDirectories: true)
            try FileManager.default.createSymbolicLink(at: bin.appendingPathComponent("kubeseal"), withDestinationURL: CLIControllerTests.cachet)
        }
        let path = bin.path + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")
        var variables = ["PATH": path, "KUBECONFIG": kubeconfig.path, "HOME": directory.path]
        variables.merge(environment) { $1 }
        return try await TestProcess.runOffPool(URL(fileURLWithPath: "/bin/bash"), ["-euo", "pipefail", "-c", script],
                                                environment: .inherited(adding: variables), directory: directory)
    }

    static func read(_ directory: URL, _ name: String) throws -> String {
        try String(contentsOf: directory.appendingPathComponent(name), encoding: .utf8)
    }

    @Test("README: usage, offline certificate, scopes, merge-into, raw mode, validate, re-encrypt, recovery, controller namespace")
    func readme() async throws {
        try await CLIControllerTests.with { harness, directory, kubeconfig in
            // Usage: a Secret from kubectl, sealed with -f/-w, created with kubectl, unsealed by the controller.
            let usage = try await Self.shell("""
                echo -n bar | kubectl create secret generic mysecret --dry-run=client --from-file=foo=/dev/stdin -o json >mysecret.json
                kubeseal -f mysecret.json -w mysealedsecret.json
                kubectl create -f mysealedsecret.json
                """, in: directory, kubeconfig: kubeconfig)
            #expect(usage.status == 0, "\(usage.error)")
            try await eventually("the Secret") { ControllerHarness.data(await harness.secret("mysecret", namespace: "default")) == ["foo": "bar"] }
            #expect(try Self.read(directory, "mysealedsecret.json").hasPrefix("{"), "JSON by default, as kubeseal")

            // The certificate, fetched once and used offline; a scope from the command line.
            let offline = try await Self.shell("""
                kubeseal --fetch-cert >mycert.pem
                kubeseal --cert mycert.pem <mysecret.json >offline.json
                kubeseal --scope cluster-wide <mysecret.json >sealed-secret.json
                """, in: directory, kubeconfig: kubeconfig)
            #expect(offline.status == 0, "\(offline.error)")
            #expect(try Self.read(directory, "mycert.pem") == String(decoding: try await harness.request(harness.apiURL + "/v1/cert.pem").body, as: UTF8.self))
            #expect(try Self.read(directory, "sealed-secret.json").contains("sealedsecrets.bitnami.com/cluster-wide"))
            for file in ["offline.json", "sealed-secret.json"] {
                let opened = try TestProcess.run(CLIControllerTests.cachet, ["unseal", "--key", FixtureKeys.rsa2048File, "-f", directory.appendingPathComponent(file).path])
                #expect(opened.status == 0 && String(decoding: opened.output, as: UTF8.self).contains("YmFy"), "\(file): \(opened.error)")
            }

            // Update existing secrets with --merge-into.
            let merged = try await Self.shell("""
                echo -n bar | kubectl create secret generic mysecret --dry-run=client --from-file=foo=/dev/stdin -o json \\
                  | kubeseal > mysealedsecret.json
                echo -n baz | kubectl create secret generic mysecret --dry-run=client --from-file=bar=/dev/stdin -o json \\
                  | kubeseal --merge-into mysealedsecret.json
                """, in: directory, kubeconfig: kubeconfig)
            #expect(merged.status == 0, "\(merged.error)")
            let both = try TestProcess.run(CLIControllerTests.cachet, ["unseal", "--key", FixtureKeys.rsa2048File, "-o", "json",
                                                                  "-f", directory.appendingPathComponent("mysealedsecret.json").path])
            #expect(String(decoding: both.output, as: UTF8.self).contains("\"bar\": \"YmF6\"") && String(decoding: both.output, as: UTF8.self).contains("\"foo\": \"YmFy\""),
                    "\(both.error)")

            // Raw mode, the three scopes.
            for (script, scope) in [
                ("echo -n foo | kubeseal --raw --namespace bar --name mysecret", ["--scope", "strict", "-n", "bar", "--name", "mysecret"]),
                ("echo -n foo | kubeseal --raw --namespace bar --scope namespace-wide", ["--scope", "namespace-wide", "-n", "bar"]),
                ("echo -n foo | kubeseal --raw --scope cluster-wide", ["--scope", "cluster-wide"]),
            ] {
                let sealed = try await Self.shell(script, in: directory, kubeconfig: kubeconfig)
                #expect(sealed.status == 0 && sealed.output.first == UInt8(ascii: "A") && sealed.output.last != 0x0A, "\(script): \(sealed.error)")
                let opened = try TestProcess.run(CLIControllerTests.cachet, ["unseal", "--raw", "--key", FixtureKeys.rsa2048File] + scope, stdin: sealed.output)
                #expect(opened.status == 0 && String(decoding: opened.output, as: UTF8.self) == "foo", "\(script): \(opened.error)")
            }

            // Validate: a good one passes; one moved to another namespace gives kubeseal's message and exit 1.
            try Data(try ManifestFormat.yaml.writeBody(try ControllerHarness.sealed("mysecret", namespace: "team-a")))
                .write(to: directory.appendingPathComponent("sealed-secrets.yaml"))
            let valid = try await Self.shell("cat sealed-secrets.yaml | kubeseal --validate", in: directory, kubeconfig: kubeconfig)
            #expect(valid.status == 0 && valid.output.isEmpty, "\(valid.error)")
            var moved = try ControllerHarness.sealed("mysecret", namespace: "team-a")
            moved.setValue(.string("team-b"), at: ["metadata", "namespace"])
            try Data(try ManifestFormat.yaml.writeBody(moved)).write(to: directory.appendingPathComponent("sealed-secrets.yaml"))
            let invalid = try await Self.shell("cat sealed-secrets.yaml | kubeseal --validate", in: directory, kubeconfig: kubeconfig)
            #expect(invalid.status == 1 && invalid.error.hasPrefix("error: unable to decrypt sealed secret"), "\(invalid.error)")

            // Re-encryption, after a key renewal.
            await harness.controller.keys.renewNow()
            let newest = try #require(harness.controller.keys.newestSealingKey)
            try Data(try ManifestFormat.json.writeBody(try ControllerHarness.sealed("rot", namespace: "team-a")))
                .write(to: directory.appendingPathComponent("my_sealed_secret.json"))
            let reencrypted = try await Self.shell("""
                kubeseal --re-encrypt <my_sealed_secret.json >tmp.json \\
                  && mv tmp.json my_sealed_secret.json
                """, in: directory, kubeconfig: kubeconfig)
            #expect(reencrypted.status == 0, "\(reencrypted.error)")
            let rotated = try SealedSecretManifest(try #require(try ManifestReader.objects(in: ManifestReader.documents(
                in: Array(try Self.read(directory, "my_sealed_secret.json").utf8))).first))
            let value = try #require(rotated.encryptedData["password"])
            #expect(try harness.controller.keys.keyRing.open(sealedValue: value, scope: .strict(namespace: "team-a", name: "rot"), item: "password").opening.keyID == newest.keyID)

            // Recovery with backed-up private keys: comma-separated, and repeated.
            try FileManager.default.copyItem(atPath: FixtureKeys.rsa2048File, toPath: directory.appendingPathComponent("file1.key").path)
            try ControllerHarness.keySecret(name: "backup").jsonBytes.withUnsafeBytes { try Data($0).write(to: directory.appendingPathComponent("file2.key")) }
            chmod(directory.appendingPathComponent("file2.key").path, 0o600)
            for flags in ["--recovery-private-key file1.key,file2.key", "--recovery-private-key file2.key --recovery-private-key file1.key"] {
                let recovered = try await Self.shell("kubeseal --recovery-unseal \(flags) <mysealedsecret.json", in: directory, kubeconfig: kubeconfig)
                #expect(recovered.status == 0 && String(decoding: recovered.output, as: UTF8.self).contains("\"kind\": \"Secret\""), "\(recovered.error)")
            }

            // The controller's namespace, by flag and by variable (ours is kube-system: the flag naming another one
            // finds no Service there, and says so).
            let elsewhere = try await Self.shell("kubeseal --controller-namespace sealed-secrets <mysecret.json >mysealedsecret.json",
                                                 in: directory, kubeconfig: kubeconfig)
            #expect(elsewhere.status == 1 && elsewhere.error.contains("no Service sealed-secrets/sealed-secrets-controller"), "\(elsewhere.error)")
            let byVariable = try await Self.shell("""
                export SEALED_SECRETS_CONTROLLER_NAMESPACE=kube-system
                kubeseal <mysecret.json >mysealedsecret.json
                """, in: directory, kubeconfig: kubeconfig)
            #expect(byVariable.status == 0, "\(byVariable.error)")
        }
    }

    @Test("Go's flag forms, kubeseal's exit codes, and flags Cachet cannot honour are refused by name")
    func flags() async throws {
        try await CLIControllerTests.with { harness, directory, kubeconfig in
            let cert = directory.appendingPathComponent("c.pem").path
            try Data(try await harness.request(harness.apiURL + "/v1/cert.pem").body).write(to: URL(fileURLWithPath: cert))
            for (script, status, fragment) in [
                ("echo -n v | kubeseal --cert \(cert) --raw=true --scope=cluster-wide", 0, ""),
                ("echo -n v | SEALED_SECRETS_RAW=true SEALED_SECRETS_SCOPE=cluster-wide kubeseal --cert \(cert)", 0, ""),
                ("echo '{}' | kubeseal --cert \(cert) --from-file=x", 1, "error: --from-file requires --raw"),
                ("echo -n v | kubeseal --cert \(cert) --raw --scope cluster-wide --from-file a --from-file b", 1, "only one --from-file"),
                ("kubeseal --cert \(cert) --bogus </dev/null", 2, "error: Unknown option '--bogus'"),
                ("kubeseal --cert \(cert) --as admin </dev/null", 1, "error: --as is not supported"),
                ("kubeseal --cert \(cert) --raw=false --scope=everywhere </dev/null", 1, "error: --scope: everywhere"),
                ("kubeseal --version", 0, ""),
            ] {
                let result = try await Self.shell(script, in: directory, kubeconfig: kubeconfig)
                #expect(result.status == Int32(status), "\(script): \(result.error)")
                #expect(fragment.isEmpty || result.error.contains(fragment), "\(script): \(result.error)")
            }
            let help = try await Self.shell("cachet kubeseal --help", in: directory, kubeconfig: kubeconfig, environment: [
                "PATH": CLIControllerTests.cachet.deletingLastPathComponent().path + ":/usr/bin:/bin"])
            #expect(help.status == 0 && String(decoding: help.output, as: UTF8.self).contains("--recovery-private-key"))
        }
    }
}
