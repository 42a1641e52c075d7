import CachetCrypto
import CachetManifests
import CachetTestSupport
import Foundation
import Testing
@testable import CachetController

/// `cachet keys backup` and `cachet keys restore`, and the drill docs/operations.md describes: back up, lose the
/// cluster, restore into a fresh one, and every Secret comes back.
@Suite struct KeyBackupTests {
    /// An offline age identity (0600) and its recipients file, in `directory`.
    static func offlineKey(in directory: URL, name: String = "offline") throws -> (identity: URL, recipients: URL, recipient: String) {
        let identity = try AgeIdentity.generate()
        let identityFile = directory.appendingPathComponent("\(name).txt")
        try identity.fileContents(created: "2026-12-07T00:00:00Z").withUnsafeBytes { Data($0) }.write(to: identityFile)
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: identityFile.path)
        let recipients = directory.appendingPathComponent("\(name).recipients")
        try (identity.recipient.description + "\n").write(to: recipients, atomically: true, encoding: .utf8)
        return (identityFile, recipients, identity.recipient.description)
    }

    /// A fresh cluster where GitOps has applied `sealed` but no key exists, its controller running; its kubeconfig
    /// written to `kubeconfig`.
    static func lostCluster(holding sealed: [ManifestValue], kubeconfig: URL) async throws -> (ControllerHarness, URL) {
        let harness = try await ControllerHarness.start(installKey: false, before: { client in
            for object in sealed { _ = try await client.create(.sealedSecrets, object, namespace: "team-a") }
        }, waitForKeys: false)
        do {
            try harness.cluster.kubeconfig().write(to: kubeconfig, atomically: true, encoding: .utf8)
        } catch {
            await harness.close()
            throw error
        }
        return (harness, kubeconfig)
    }

    @Test("The drill: back up, lose the cluster, restore into a fresh one; every Secret comes back and the same key seals")
    func drill() async throws {
        try await CLIControllerTests.with { harness, directory, kubeconfig in
            // Two keys: the fixture (no age identity) and a renewed one (with one).
            await harness.controller.keys.renewNow()
            try await eventually("the renewed key") { harness.controller.keys.keyCount == 2 }
            let newest = try #require(harness.controller.keys.newestSealingKey)
            let sealed = [
                try ControllerHarness.sealed("old-key"),
                try ControllerHarness.sealed("namespace-wide", scope: .namespaceWide),
                try ControllerHarness.sealed("new-key", sealingKey: newest),
            ]
            for object in sealed { _ = try await harness.apply(object) }
            let offline = try Self.offlineKey(in: directory)
            let backup = directory.appendingPathComponent("keys-backup.age")

            let made = try await CLIControllerTests.run(["keys", "backup", "--recipients-file", offline.recipients.path, "-w", backup.path, "--kubeconfig", kubeconfig.path])
            #expect(made.status == 0, "\(made.error)")
            #expect(made.error.contains("backed up 2 keys from kube-system to \(backup.path), for 1 recipient"), "\(made.error)")
            #expect(made.error.contains("(with its age identity)"))
            let text = try String(contentsOf: backup, encoding: .utf8)
            #expect(text.hasPrefix("-----BEGIN AGE ENCRYPTED FILE-----\n"))
            #expect(!text.contains("PRIVATE KEY") && !text.contains("tls.key"), "the backup is not encrypted")
            let mode = try FileManager.default.attributesOfItem(atPath: backup.path)[.posixPermissions] as? Int
            #expect(mode == 0o600)

            // Break-glass needs only age: the backup opens with it, to a List that kubectl applies and that
            // `cachet unseal --key` (and `keys list`) reads as a key backup.
            let age = try #require(["/usr/bin/age", "/usr/local/bin/age"].first { FileManager.default.isExecutableFile(atPath: $0) },
                                   "age is not installed (scripts/bootstrap installs it)")
            let opened = try await TestProcess.runOffPool(URL(fileURLWithPath: age), ["-d", "-i", offline.identity.path, backup.path])
            #expect(opened.status == 0, "\(opened.error)")
            let decrypted = directory.appendingPathComponent("keys.yaml")
            try opened.output.write(to: decrypted)
            try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: decrypted.path)
            #expect(opened.outputText.hasPrefix("---\napiVersion: v1\nkind: List\nitems:\n"), "\(opened.outputText.prefix(40))")
            #expect(!opened.outputText.contains("resourceVersion") && !opened.outputText.contains("uid:"))
            let listed = try await CLIControllerTests.run(["keys", "list", decrypted.path])
            #expect(listed.status == 0 && listed.outputText.split(separator: "\n").count == 1 + 5, "\(listed.outputText)\(listed.error)")

            // The cluster is lost. A fresh one gets the SealedSecrets back from git first: the controller waits.
            let (fresh, freshConfig) = try await Self.lostCluster(holding: sealed, kubeconfig: directory.appendingPathComponent("fresh-kubeconfig"))
            try await withCleanUp {
                try await eventually("the controller waits for the keys") { fresh.controller.keys.isAwaitingRestore }

                let stranger = try Self.offlineKey(in: directory, name: "stranger")
                let wrong = try await CLIControllerTests.run(["keys", "restore", "-i", stranger.identity.path, backup.path, "--kubeconfig", freshConfig.path])
                #expect(wrong.status == 1)
                #expect(wrong.error.contains("\(backup.path): none of the identities given opens it"), "\(wrong.error)")

                let dry = try await CLIControllerTests.run(["keys", "restore", "-i", offline.identity.path, backup.path, "--dry-run", "--kubeconfig", freshConfig.path])
                #expect(dry.status == 0, "\(dry.error)")
                #expect(dry.error.contains("2 of 2 keys would be created in kube-system"), "\(dry.error)")
                #expect(try await fresh.client.listAll(.secrets, namespace: ControllerHarness.namespace).items.isEmpty, "a dry run created a key")

                let restored = try await CLIControllerTests.run(["keys", "restore", "-i", offline.identity.path, backup.path, "--kubeconfig", freshConfig.path])
                #expect(restored.status == 0, "\(restored.error)")
                #expect(restored.error.contains("restored 2 of 2 keys into kube-system"), "\(restored.error)")
                for name in ["old-key", "namespace-wide", "new-key"] {
                    try await eventually("the Secret \(name)", timeout: .seconds(30)) {
                        ControllerHarness.data(await fresh.secret(name)) == ["password": Support.canary]
                    }
                }
                // The newest key is newest again: the restored controller seals to the same certificate, and v2 to the same recipient.
                for path in ["/v1/cert.pem", "/v1/recipients.txt"] {
                    let before = try await harness.request(harness.apiURL + path)
                    let after = try await fresh.request(fresh.apiURL + path)
                    #expect(after.status == 200 && after.body == before.body, "\(path)")
                }
                #expect(!fresh.controller.keys.isAwaitingRestore)

                let again = try await CLIControllerTests.run(["keys", "restore", "-i", offline.identity.path, backup.path, "--kubeconfig", freshConfig.path])
                #expect(again.status == 0, "\(again.error)")
                #expect(again.error.contains("restored 0 of 2 keys") && again.error.contains("  present  "), "\(again.error)")
                #expect(try await fresh.client.listAll(.secrets, namespace: ControllerHarness.namespace).items.count == 2)
            } cleanUp: {
                await fresh.close()
            }

            // Break-glass without cachet: what age opened, applied by kubectl, brings the Secrets back too.
            let kubectl = try #require(Repository.kubectl, "kubectl is not installed")
            let (third, config) = try await Self.lostCluster(holding: sealed, kubeconfig: directory.appendingPathComponent("third-kubeconfig"))
            try await withCleanUp {
                let applied = try await TestProcess.runOffPool(kubectl, ["apply", "-f", decrypted.path],
                                                               environment: .exactly(["KUBECONFIG": config.path, "HOME": NSTemporaryDirectory(), "PATH": "/usr/bin:/bin"]))
                #expect(applied.status == 0, "\(applied.error)")
                try await eventually("the Secret new-key", timeout: .seconds(30)) {
                    ControllerHarness.data(await third.secret("new-key")) == ["password": Support.canary]
                }
            } cleanUp: {
                await third.close()
            }
            #expect(!made.error.contains(Support.canary))
        }
    }

    @Test("Bad backups and bad requests: one clear line each, nothing created, no key bytes in the output")
    func refusals() async throws {
        try await CLIControllerTests.with { harness, directory, kubeconfig in
            let offline = try Self.offlineKey(in: directory)
            let backup = directory.appendingPathComponent("keys.age")
            func run(_ arguments: [String]) async throws -> ProcessResult {
                let result = try await CLIControllerTests.run(arguments + ["--kubeconfig", kubeconfig.path])
                #expect(!result.outputText.contains("PRIVATE KEY") && !result.error.contains("PRIVATE KEY"))
                return result
            }

            let noRecipient = try await run(["keys", "backup", "-w", backup.path])
            #expect(noRecipient.status == 64 && noRecipient.error.contains("--recipient age1… or --recipients-file"), "\(noRecipient.error)")
            let badRecipient = try await run(["keys", "backup", "--recipient", "age1nope", "-w", backup.path])
            #expect(badRecipient.status == 64 && badRecipient.error.contains("--recipient #1:"), "\(badRecipient.error)")
            let direct = try await run(["keys", "backup", "--recipient", offline.recipient, "--controller-url", harness.apiURL])
            #expect(direct.status == 64 && direct.error.contains("through the API server"), "\(direct.error)")
            let elsewhere = try await run(["keys", "backup", "--recipient", offline.recipient, "--controller-namespace", "team-b"])
            #expect(elsewhere.status == 1 && elsewhere.error.contains("no key Secrets in the namespace team-b"), "\(elsewhere.error)")
            #expect(!FileManager.default.fileExists(atPath: backup.path))

            // A backup only the keys inside it could open is refused.
            await harness.controller.keys.renewNow()
            try await eventually("the renewed key") { harness.controller.keys.keyCount == 2 }
            let own = String(decoding: try await harness.request(harness.apiURL + "/v1/recipients.txt").body, as: UTF8.self)
                .trimmingCharacters(in: .whitespacesAndNewlines)
            let circular = try await run(["keys", "backup", "--recipient", own, "-w", backup.path])
            #expect(circular.status == 1 && circular.error.contains("could only be opened with the keys it holds"), "\(circular.error)")
            #expect(!FileManager.default.fileExists(atPath: backup.path))

            let made = try await run(["keys", "backup", "--recipient", offline.recipient, "--recipient", own, "-w", backup.path])
            #expect(made.status == 0, "\(made.error)")
            let armored = try String(contentsOf: backup, encoding: .utf8)

            // Altered: one base64 character of the payload changed (the armor stays well formed).
            var lines = armored.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            let target = lines.count - 3
            let middle = lines[target].index(lines[target].startIndex, offsetBy: 10)
            lines[target].replaceSubrange(middle...middle, with: lines[target][middle] == "A" ? "B" : "A")
            let altered = directory.appendingPathComponent("altered.age")
            try lines.joined(separator: "\n").write(to: altered, atomically: true, encoding: .utf8)
            let tampered = try await run(["keys", "restore", "-i", offline.identity.path, altered.path])
            #expect(tampered.status == 1 && tampered.error.contains("\(altered.path): damaged or altered"), "\(tampered.error)")

            let notAge = directory.appendingPathComponent("not-age.yaml")
            try "kind: List\n".write(to: notAge, atomically: true, encoding: .utf8)
            let plain = try await run(["keys", "restore", "-i", offline.identity.path, notAge.path])
            #expect(plain.status == 1 && plain.error.contains("\(notAge.path): not an age file"), "\(plain.error)")

            // A Secret of the same name holding another key: refused before anything is created.
            let otherCluster = try await ControllerHarness.start(installKey: false, before: { client in
                let key = try RSAPrivateKey.generate(bits: 2048)
                let clash = try ControllerHarness.keySecret(name: "sealed-secrets-keyfixture", key: key, certificatePEM: try Certificate.selfSigned(for: key).pem)
                _ = try await client.create(.secrets, clash, namespace: ControllerHarness.namespace)
            })
            try await withCleanUp {
                let config = directory.appendingPathComponent("other-kubeconfig")
                try otherCluster.cluster.kubeconfig().write(to: config, atomically: true, encoding: .utf8)
                let clash = try await CLIControllerTests.run(["keys", "restore", "-i", offline.identity.path, backup.path, "--kubeconfig", config.path])
                #expect(clash.status == 1 && clash.error.contains("the Secret kube-system/sealed-secrets-keyfixture exists in the cluster and holds another key; nothing was restored"), "\(clash.error)")
                #expect(try await otherCluster.client.listAll(.secrets, namespace: ControllerHarness.namespace).items.count == 1)
            } cleanUp: {
                await otherCluster.close()
            }
        }
    }
}
