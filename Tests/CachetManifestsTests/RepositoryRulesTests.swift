import CachetCrypto
import CachetTestSupport
import Foundation
import Testing
@testable import CachetManifests

@Suite("path patterns, as gitignore reads them")
struct PathPatternTests {
    @Test("**, *, ?, classes, directories, and names without a slash at any depth", arguments: [
        ("overlays/prod/**", "overlays/prod/db.yaml", true),
        ("overlays/prod/**", "overlays/prod/app/db.yaml", true),
        ("overlays/prod/**", "overlays/production/db.yaml", false),
        ("overlays/prod/**", "base/overlays/prod/db.yaml", false),
        ("**", "anything/at/all.yaml", true),
        ("**/secrets/*.yaml", "secrets/a.yaml", true),
        ("**/secrets/*.yaml", "apps/x/secrets/a.yaml", true),
        ("**/secrets/*.yaml", "apps/x/secrets/deeper/a.yaml", false),
        ("overlays/*/db.yaml", "overlays/dev/db.yaml", true),
        ("overlays/*/db.yaml", "overlays/dev/x/db.yaml", false),
        ("overlays/**/db.yaml", "overlays/db.yaml", true),
        ("overlays/**/db.yaml", "overlays/a/b/c/db.yaml", true),
        ("*.sealed.yaml", "deep/down/x.sealed.yaml", true),
        ("*.sealed.yaml", "x.yaml", false),
        ("db.yaml", "a/b/db.yaml", true),
        ("/db.yaml", "a/b/db.yaml", false),
        ("/db.yaml", "db.yaml", true),
        ("overlays/prod", "overlays/prod/db.yaml", true),
        ("overlays/prod/", "overlays/prod/db.yaml", true),
        ("overlays/[dp]*/x.yaml", "overlays/prod/x.yaml", true),
        ("overlays/[dp]*/x.yaml", "overlays/staging/x.yaml", false),
        ("overlays/pro?/x.yaml", "overlays/prod/x.yaml", true),
    ])
    func matching(pattern: String, path: String, expected: Bool) throws {
        #expect(try PathPattern(pattern).matches(path) == expected, "\(pattern) against \(path)")
    }

    @Test("bad patterns are refused", arguments: ["", "a//b", "a/../b", "./a", "a**/b", "x/**y"])
    func refused(pattern: String) {
        #expect(throws: ManifestError.self) { try PathPattern(pattern) }
    }

    /// gitignore's `**` done by a table, not by backtracking: a pattern of many `**` against a deep path stays quick.
    @Test("many ** against a deep path: no blow-up")
    func noBlowUp() throws {
        let pattern = try PathPattern(Array(repeating: "**", count: 60).joined(separator: "/") + "/x")
        let path = Array(repeating: "a", count: 2000).joined(separator: "/") + "/y"
        #expect(!pattern.matches(path))
    }
}

@Suite(".cachet.yaml: repository rules")
struct RepositoryRulesTests {
    static let recipient = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"

    @Test("found by walking up; paths relative to its directory; first match wins")
    func findAndMatch() throws {
        let directory = try TemporaryDirectory()
        try directory.write(".cachet.yaml", """
            rules:
              - path: "overlays/prod/**"
                cert: keys/prod
                recipients: [\(Self.recipient)]
                scope: strict
              - path: "**"
                cert: https://sealed-secrets.example.com/v1/cert.pem
                scope: namespace-wide
            """)
        try directory.write("overlays/prod/app/x.yaml", "")
        try directory.write("keys/prod/tls.crt", "")
        let rules = try #require(try RepositoryRules.find(from: directory.path("overlays/prod/app")))
        #expect(rules.directory == RepositoryRules.absolute(directory.url.path))
        let prod = try #require(rules.rule(for: directory.path("overlays/prod/app/x.yaml")))
        #expect(prod.rule.number == 1 && prod.relativePath == "overlays/prod/app/x.yaml")
        #expect(prod.rule.cert == RepositoryRules.absolute(directory.path("keys/prod")))
        #expect(prod.rule.sealsV2 && prod.rule.scope == .strict && prod.rule.recipients.map(\.description) == [Self.recipient])
        #expect(prod.rule.clusterRecipientsLocation == RepositoryRules.absolute(directory.path("keys/prod/age-recipients.txt")))
        let dev = try #require(rules.rule(for: directory.path("overlays/dev/x.yaml")))
        #expect(dev.rule.number == 2 && !dev.rule.sealsV2 && dev.rule.scope == .namespaceWide)
        #expect(dev.rule.cert == "https://sealed-secrets.example.com/v1/cert.pem")
        #expect(rules.rule(for: "/elsewhere/x.yaml") == nil, "a file outside the repository")
    }

    @Test("a rules file another user owns, or anyone may write, is refused, not followed")
    func foreign() throws {
        let directory = try TemporaryDirectory()
        let file = try directory.write(".cachet.yaml", "rules:\n  - path: x\n    cert: a.crt\n", mode: 0o666)
        chmod(file, 0o666)
        #expect(throws: FileError.self) { try RepositoryRules.find(from: directory.url.path) }
        chmod(file, 0o644)
        #expect(try RepositoryRules.find(from: directory.url.path) != nil)
        if getuid() == 0 {
            chown(file, 65534, 65534)
            #expect(throws: FileError.self) { try RepositoryRules.find(from: directory.url.path) }
        }
    }

    @Test("mistakes are refused with file, line and rule", arguments: [
        ("rule:\n  - path: x\n", "1:1: rule: unknown field \"rule\""),
        ("rules: []\n", "rules must be a non-empty list"),
        ("rules:\n  - cert: a.crt\n", "rules[0]: a rule needs path:"),
        ("rules:\n  - path: x\n", "the rule names nothing to seal to"),
        ("rules:\n  - path: x\n    cert: a.crt\n    certs: b.crt\n", "4:5: rules[0]: unknown field \"certs\""),
        ("rules:\n  - path: x\n    cert: a.crt\n    scope: everywhere\n", "4:12: rules[0].scope: scope: one of strict"),
        ("rules:\n  - path: x\n    recipients: [age1nope]\n", "3:18: rules[0].recipients[0]"),
        ("rules:\n  - path: a//b\n    cert: a.crt\n", "2:11: rules[0].path: the path pattern \"a//b\" has an empty segment"),
        ("rules:\n  - path: x\n    cert: https://example.com/cert\n    recipients: [\(recipient)]\n",
         "rules[0].cert: with recipients the rule seals format v2"),
        ("rules:\n  - path: x\n    cert: a.crt\n    cert-ca: ca.crt\n", "cert-ca applies to an https:// cert only"),
        ("rules:\n  - path: x\n    cert: keys/prod.crt\n    recipients: [\(recipient)]\n", "cert must be a key directory"),
        ("rules:\n  - path: yes\n    cert: a.crt\n", "quote it"),
    ])
    func mistakes(text: String, expected: String) throws {
        let file = try TemporaryFile(text, name: ".cachet.yaml")
        do {
            _ = try RepositoryRules.load(file.path)
            Issue.record("accepted: \(text)")
        } catch let error as ManifestError {
            #expect("\(error)".contains(expected), "\(error)")
            #expect("\(error)".hasPrefix(file.path))
        }
    }
}
