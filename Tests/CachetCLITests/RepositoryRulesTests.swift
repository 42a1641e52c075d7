import CachetTestSupport
import Foundation
import Testing

/// `.cachet.yaml` through `cachet seal`: a repository of two clusters' overlays and an offline recovery key, sealed
/// with no key flags; what no rule covers is refused; flags win.
@Suite("cachet seal with repository rules (.cachet.yaml)")
struct RepositoryRulesCLITests {
    let repository: TemporaryDirectory
    var root: URL { repository.url }

    init() throws {
        repository = try TemporaryDirectory()
        try FileManager.default.createDirectory(atPath: repository.path("keys"), withIntermediateDirectories: true)
        for name in ["keys/prod", "keys/dev", "offline"] {
            let result = try CachetProcess.run(["keys", "generate", "--out", repository.path(name), "--rsa-bits", "2048"])
            guard result.status == 0 else { throw CocoaError(.fileWriteUnknown, userInfo: ["stderr": result.error]) }
        }
        // The recovery key's public half is in the repository; its private half would live offline.
        try FileManager.default.copyItem(atPath: repository.path("offline/age-recipients.txt"), toPath: repository.path("dr.recipients"))
        try repository.write(".cachet.yaml", """
            rules:
              - path: "overlays/prod/**"
                cert: keys/prod                 # with recipients: v2, to prod's own recipient and the recovery key
                recipients-file: dr.recipients
                scope: strict
              - path: "overlays/dev/**"
                cert: keys/dev/tls.crt
                scope: namespace-wide
            """, mode: 0o644)
        for overlay in ["prod", "dev"] {
            try repository.write("overlays/\(overlay)/db.yaml", Self.secret(namespace: overlay))
        }
        try repository.write("base/db.yaml", Self.secret(namespace: "base"))
    }

    static func secret(namespace: String) -> String {
        "apiVersion: v1\nkind: Secret\nmetadata: {name: db, namespace: \(namespace)}\nstringData:\n  password: \"\(canary)\"\n"
    }

    static let canary = "rule-canary-7f3e"

    func cachet(_ arguments: [String], in directory: String = "") throws -> ProcessResult {
        try CachetProcess.run(arguments, in: directory.isEmpty ? root : root.appendingPathComponent(directory))
    }

    func unsealed(_ file: String, key: String) throws -> ProcessResult {
        try cachet(["unseal", "--key", key, "-f", file, "-o", "json"])
    }

    @Test("prod: format v2 to the cluster's recipient and the recovery key, strict; both open it")
    func prodRule() throws {
        let result = try cachet(["seal", "-f", "overlays/prod/db.yaml", "-w", "overlays/prod/db.sealed.yaml"])
        #expect(result.status == 0, "\(result.error)")
        let sealed = try String(contentsOf: root.appendingPathComponent("overlays/prod/db.sealed.yaml"), encoding: .utf8)
        #expect(sealed.contains("password: YWdlLWVuY3J5cHRpb24ub3JnL3Yx"), "not format v2: \(sealed)")  // "age-encryption.org/v1"
        #expect(!sealed.contains("namespace-wide") && !sealed.contains(Self.canary))
        for key in ["keys/prod", "offline"] {
            let opened = try unsealed("overlays/prod/db.sealed.yaml", key: key)
            #expect(opened.status == 0 && String(decoding: opened.output, as: UTF8.self).contains(Data(Self.canary.utf8).base64EncodedString()), "\(key): \(opened.error)")
        }
        #expect(try unsealed("overlays/prod/db.sealed.yaml", key: "keys/dev").status != 0)
    }

    @Test("dev: format v1 to its certificate, namespace-wide; from a subdirectory too (the rules are found walking up)")
    func devRule() throws {
        let result = try cachet(["seal", "-f", "db.yaml", "-w", "db.sealed.yaml"], in: "overlays/dev")
        #expect(result.status == 0, "\(result.error)")
        let sealed = try String(contentsOf: root.appendingPathComponent("overlays/dev/db.sealed.yaml"), encoding: .utf8)
        #expect(sealed.contains("sealedsecrets.bitnami.com/namespace-wide"), "\(sealed)")
        #expect(!sealed.contains("YWdlLWVuY3J5cHRpb24ub3JnL3Yx"))
        #expect(try unsealed("overlays/dev/db.sealed.yaml", key: "keys/dev").status == 0)
        #expect(try unsealed("overlays/dev/db.sealed.yaml", key: "keys/prod").status != 0)
    }

    @Test("flags win over the rules: --cert and --scope")
    func flagsWin() throws {
        let result = try cachet(["seal", "-f", "overlays/dev/db.yaml", "--cert", "keys/prod/tls.crt", "--scope", "strict", "-o", "yaml"])
        #expect(result.status == 0, "\(result.error)")
        let sealed = String(decoding: result.output, as: UTF8.self)
        #expect(!sealed.contains("namespace-wide"))
        let opened = try cachet(["unseal", "--key", "keys/prod", "-f", "-", "-o", "json"], stdin: result.output)
        #expect(opened.status == 0, "\(opened.error)")
    }

    /// The plaintext usually lives outside the repository (it must not be committed): where the sealed file goes
    /// decides, and the run says which rule it followed.
    @Test("the rule follows the file written, not the plaintext's place")
    func ruleFollowsOutput() throws {
        let elsewhere = try TemporaryDirectory()
        let plain = try elsewhere.write("db.yaml", Self.secret(namespace: "prod"))
        let result = try cachet(["seal", "-f", plain, "-w", "overlays/prod/db2.sealed.yaml"])
        #expect(result.status == 0, "\(result.error)")
        #expect(result.error.contains("cachet: overlays/prod/db2.sealed.yaml: rule 1 of "), "\(result.error)")
        let sealed = try String(contentsOf: root.appendingPathComponent("overlays/prod/db2.sealed.yaml"), encoding: .utf8)
        #expect(sealed.contains("password: YWdlLWVuY3J5cHRpb24ub3JnL3Yx"), "not prod's v2 rule: \(sealed)")
    }

    @Test("a file no rule matches is refused, with a hint, and nothing is written")
    func noRule() throws {
        let result = try cachet(["seal", "-f", "base/db.yaml", "-w", "base/db.sealed.yaml"])
        #expect(result.status == 1 && result.output.isEmpty)
        #expect(result.error.contains("base/db.sealed.yaml: no rule in \(RepositoryRulesCLITests.absolute(root.path))/.cachet.yaml matches it"), "\(result.error)")
        #expect(result.error.contains("hint: add a rule whose path matches base/db.sealed.yaml, or pass --cert"), "\(result.error)")
        #expect(!FileManager.default.fileExists(atPath: repository.path("base/db.sealed.yaml")))
    }

    @Test("a broken rules file: file, line and field; a v2 rule whose cluster recipient is missing: which rule, and how to fix it")
    func brokenRules() throws {
        try repository.write(".cachet.yaml", "rules:\n  - path: \"**\"\n    cert: keys/dev\n    sope: strict\n", mode: 0o644)
        let broken = try cachet(["seal", "-f", "overlays/dev/db.yaml", "-w", "out.yaml"])
        #expect(broken.status == 1 && broken.error.contains(".cachet.yaml:4:5: rules[0]: unknown field \"sope\""), "\(broken.error)")

        try FileManager.default.removeItem(atPath: repository.path("keys/prod/age-recipients.txt"))
        try repository.write(".cachet.yaml", "rules:\n  - path: \"**\"\n    cert: keys/prod\n    recipients-file: dr.recipients\n", mode: 0o644)
        let missing = try cachet(["seal", "-f", "overlays/prod/db.yaml", "-w", "out.yaml"])
        #expect(missing.status == 1, "\(missing.error)")
        #expect(missing.error.contains(".cachet.yaml:2: rule 1 (path **): the rule seals format v2, and "), "\(missing.error)")
        #expect(missing.error.contains("hint: cachet recipients > "), "\(missing.error)")
        #expect(!FileManager.default.fileExists(atPath: repository.path("out.yaml")))
        #expect(!broken.error.contains(Self.canary) && !missing.error.contains(Self.canary))
    }

    /// What the rules file records as its directory: the temporary directory's path with `.`/`..` folded.
    static func absolute(_ path: String) -> String { URL(fileURLWithPath: path).standardizedFileURL.path }
}

extension RepositoryRulesCLITests {
    func cachet(_ arguments: [String], stdin: Data) throws -> ProcessResult {
        try CachetProcess.run(arguments, stdin: stdin, in: root)
    }
}
