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

            // Break-glass needs only age: the backup opens with it, to a List that kubectl creates and that
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
                    try await eventually("the Secret \(name)", timeout: .seconds(60)) {
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

            // Break-glass without cachet: what age opened, created by kubectl, brings the Secrets back too.
            let kubectl = try #require(Repository.kubectl, "kubectl is not installed")
            let (third, config) = try await Self.lostCluster(holding: sealed, kubeconfig: directory.appendingPathComponent("third-kubeconfig"))
            try await withCleanUp {
                let applied = try await TestProcess.runOffPool(kubectl, ["create", "-f", decrypted.path],
                                                               environment: .exactly(["KUBECONFIG": config.path, "HOME": NSTemporaryDirectory(), "PATH": "/usr/bin:/bin"]))
                #expect(applied.status == 0, "\(applied.error)")
                try await eventually("the Secret new-key", timeout: .seconds(60)) {
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
            for recipients in [[own], [offline.recipient, own]] {
                let circular = try await run(["keys", "backup", "-w", backup.path] + recipients.flatMap { ["--recipient", $0] })
                #expect(circular.status == 1 && circular.error.contains("the recipient \(own) is an age identity held in this backup"), "\(circular.error)")
            }
            #expect(!FileManager.default.fileExists(atPath: backup.path))

            // A Secret labelled as a key with no key in it (the controller skips it) is skipped with a warning.
            let junk = ManifestValue.object([
                ("apiVersion", .string("v1")), ("kind", .string("Secret")),
                ("metadata", .object([("name", .string("junk")), ("labels", .stringMap([KeyManager.keyLabel: "compromised"]))])),
                ("data", .object([("note", .string("eA=="))])),
            ])
            _ = try await harness.client.create(.secrets, junk, namespace: ControllerHarness.namespace)
            let made = try await run(["keys", "backup", "--recipient", offline.recipient, "-w", backup.path])
            #expect(made.error.contains("cachet: warning: skipped: the cluster's kube-system: Secret kube-system/junk: holds the item \"note\""), "\(made.error)")
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
                #expect(clash.status == 1 && clash.error.contains("the Secret kube-system/sealed-secrets-keyfixture exists in the cluster and is not this key; nothing was restored"), "\(clash.error)")
                #expect(try await otherCluster.client.listAll(.secrets, namespace: ControllerHarness.namespace).items.count == 1)
            } cleanUp: {
                await otherCluster.close()
            }
        }
    }

    /// A backup file is encrypted, not signed: anyone who knows the offline recipient can write one. Restore creates
    /// only key Secrets, refuses keys from the future, will not make a key newer than the cluster's own the sealing
    /// key unless told, and goes only to the namespace it is told.
    @Test("forged backups: other Secret kinds, certificates from the future, a key that would take over sealing, another namespace")
    func forgedBackups() async throws {
        try await CLIControllerTests.with { harness, directory, kubeconfig in
            let offline = try Self.offlineKey(in: directory)
            let recipient = try AgeRecipient(offline.recipient)
            func forge(_ name: String, _ secrets: [ManifestValue]) throws -> String {
                let list = ManifestValue.object([("apiVersion", .string("v1")), ("kind", .string("List")), ("items", .array(secrets))])
                let sealed = try list.jsonBytes.withUnsafeBytes { try AgeFile.encrypt($0, to: [recipient]) }
                let url = directory.appendingPathComponent(name)
                try AgeArmor.encode(sealed).write(to: url, atomically: true, encoding: .utf8)
                return url.path
            }
            func restore(_ file: String, _ extra: [String] = []) async throws -> ProcessResult {
                try await CLIControllerTests.run(["keys", "restore", "-i", offline.identity.path, file, "--kubeconfig", kubeconfig.path] + extra)
            }
            func keySecret(_ name: String, notBefore: Date, namespace: String = "kube-system") throws -> ManifestValue {
                let key = try RSAPrivateKey.generate(bits: 2048)
                var secret = try ControllerHarness.keySecret(name: name, key: key, certificatePEM: try Certificate.selfSigned(for: key, notBefore: notBefore).pem)
                secret.setValue(.string(namespace), at: ["metadata", "namespace"])
                return secret
            }
            let secretCount = { try await harness.client.listAll(.secrets, namespace: ControllerHarness.namespace).items.count }
            let before = try await secretCount()

            // Not a key Secret: a service-account token, one annotation away from a token controller filling it in.
            let token = ManifestValue.object([
                ("apiVersion", .string("v1")), ("kind", .string("Secret")), ("type", .string("kubernetes.io/service-account-token")),
                ("metadata", .object([("name", .string("sealed-secrets-keyevil")), ("namespace", .string("kube-system")),
                                      ("annotations", .stringMap(["kubernetes.io/service-account.name": "default"]))])),
            ])
            let notKey = try await restore(try forge("token.age", [token]))
            #expect(notKey.status == 1 && notKey.error.contains("has no sealedsecrets.bitnami.com/sealed-secrets-key label, so it is not a sealing key Secret"), "\(notKey.error)")

            // From the future: it would stay the sealing key after every renewal.
            let future = try await restore(try forge("future.age", [try keySecret("sealed-secrets-keyfuture", notBefore: Date().addingTimeInterval(86_400 * 365 * 70))]))
            #expect(future.status == 1 && future.error.contains("a key from the future would stay the sealing key"), "\(future.error)")

            // Newer than the cluster's keys: refused, unless --allow-newer; its Kubernetes annotations are not restored.
            var newer = try keySecret("sealed-secrets-keynewer", notBefore: Date())
            newer.setValue(.stringMap(["kubernetes.io/service-account.name": "default", "team": "platform"]), at: ["metadata", "annotations"])
            let newerFile = try forge("newer.age", [newer])
            let takeover = try await restore(newerFile)
            #expect(takeover.status == 1 && takeover.error.contains("is newer than every key the cluster holds, so it would become the sealing key; nothing was restored"), "\(takeover.error)")
            #expect(try await secretCount() == before)
            let allowed = try await restore(newerFile, ["--allow-newer"])
            #expect(allowed.status == 0, "\(allowed.error)")
            let restored = try #require(await harness.secret("sealed-secrets-keynewer", namespace: "kube-system"))
            #expect(restored["type"]?.stringValue == "kubernetes.io/tls")
            #expect(restored.value(at: ["metadata", "annotations"]) == .stringMap(["team": "platform"]))

            // Taken from another namespace: restored only where it is told to go.
            let elsewhere = try forge("elsewhere.age", [try keySecret("sealed-secrets-keyother", notBefore: Date(timeIntervalSinceNow: -86_400 * 400), namespace: "sealed-secrets")])
            let wrongPlace = try await restore(elsewhere)
            #expect(wrongPlace.status == 1 && wrongPlace.error.contains("the backup was taken from the namespace sealed-secrets, not kube-system"), "\(wrongPlace.error)")
            let told = try await restore(elsewhere, ["--controller-namespace", "kube-system"])
            #expect(told.status == 0 && told.error.contains("created"), "\(told.error)")

            // A Secret of that name that is no key at all: refused before anything is created.
            let plain = ManifestValue.object([("apiVersion", .string("v1")), ("kind", .string("Secret")),
                                              ("metadata", .object([("name", .string("sealed-secrets-keytaken"))]))])
            _ = try await harness.client.create(.secrets, plain, namespace: ControllerHarness.namespace)
            let old = Date(timeIntervalSinceNow: -86_400 * 500)
            let taken = try await restore(try forge("taken.age", [try keySecret("sealed-secrets-keyaaa", notBefore: old), try keySecret("sealed-secrets-keytaken", notBefore: old)]))
            #expect(taken.status == 1 && taken.error.contains("the Secret kube-system/sealed-secrets-keytaken exists in the cluster and is not this key; nothing was restored"), "\(taken.error)")
            #expect(await harness.secret("sealed-secrets-keyaaa", namespace: "kube-system") == nil)
        }
    }
}
