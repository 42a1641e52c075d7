import CachetTestSupport
import Foundation
import Testing

/// `cachet keys report`: which keys the values of a tree still need.
@Suite("cachet keys report")
struct KeysReportTests {
    @Test("counts by sealed-by hint, by the private keys where there is none; current, needed, safe to retire; unattributed named")
    func report() throws {
        let repository = try TemporaryDirectory()
        let root = repository.url
        try FileManager.default.createDirectory(atPath: repository.path("keys"), withIntermediateDirectories: true)
        var ids: [String: String] = [:]
        for name in ["keys/new", "old", "retired"] {
            let result = try CachetProcess.run(["keys", "generate", "--out", repository.path(name), "--rsa-bits", "2048"])
            #expect(result.status == 0, "\(result.error)")
            let listed = String(decoding: try CachetProcess.run(["keys", "list", repository.path(name) + "/tls.crt"]).output, as: UTF8.self)
            ids[name] = listed.split(separator: "\n").dropFirst().first.map { String($0.prefix(16)) }
        }
        try repository.write(".cachet.yaml", "rules:\n  - path: \"**\"\n    cert: keys/new\n", mode: 0o644)
        func seal(_ file: String, _ key: String, hint: Bool = true) throws {
            let secret = "apiVersion: v1\nkind: Secret\nmetadata: {name: s, namespace: team}\nstringData: {a: \"x\", b: \"y\"}\n"
            let result = try CachetProcess.run(["seal", "--cert", key, "-o", "yaml"], stdin: Data(secret.utf8), in: root)
            var text = String(decoding: result.output, as: UTF8.self)
            if !hint { text = text.split(separator: "\n").filter { !$0.contains("cachet.dev/sealed-by") }.joined(separator: "\n") + "\n" }
            try repository.write(file, text, mode: 0o644)
        }
        try seal("apps/a.sealed.yaml", "keys/new")
        try seal("apps/b.sealed.yaml", "old")
        try seal("apps/c.sealed.yaml", "old", hint: false)

        let withoutKeys = try CachetProcess.run(["keys", "report", "apps"], in: root)
        let text = String(decoding: withoutKeys.output, as: UTF8.self)
        #expect(withoutKeys.status == 0, "\(withoutKeys.error)")
        #expect(text.contains("\(ids["keys/new"]!)  -        2     -        current"), "\(text)")
        #expect(text.contains("2 values could not be attributed") && text.contains("apps/c.sealed.yaml: 2"), "\(text)")

        let withKeys = try CachetProcess.run(["keys", "report", "--key", "old", "--key", "retired", "--key", "keys/new", "apps"], in: root)
        let table = String(decoding: withKeys.output, as: UTF8.self)
        let line = { (name: String) in table.split(separator: "\n").first { $0.hasPrefix(ids[name]!) }.map(String.init) ?? "" }
        #expect(line("old").contains("  4     -        needed"), "\(table)")
        #expect(line("retired").contains("  0     -        safe to retire"), "\(table)")
        #expect(line("keys/new").contains("  2     -        current"), "\(table)")
        #expect(!table.contains("could not be attributed"), "\(table)")

        // The same facts for scripts.
        let json = try CachetProcess.run(["keys", "report", "-o", "json", "apps"], in: root)
        #expect(json.status == 0, "\(json.error)")
        let report = try #require(try JSONSerialization.jsonObject(with: json.output) as? [String: Any])
        let keys = try #require(report["keys"] as? [[String: Any]])
        let current = try #require(keys.first { $0["keyID"] as? String == ids["keys/new"] })
        #expect(current["tree"] as? Int == 2 && current["status"] as? String == "current" && current["cluster"] is NSNull)
        let unattributed = try #require(report["unattributed"] as? [[String: Any]])
        #expect(unattributed.count == 1 && unattributed[0]["place"] as? String == "apps/c.sealed.yaml" && unattributed[0]["values"] as? Int == 2)
    }
}
