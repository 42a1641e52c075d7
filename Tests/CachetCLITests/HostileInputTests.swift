import Foundation
import Testing

/// Inputs crafted to hang or crash the CLI (issue 10's list): each must end in a clean result or a one-line error.
struct HostileInputTests {
    let keys: GeneratedKeys
    init() throws { keys = try GeneratedKeys() }

    /// `1:1:…:1x` made the scalar-typing regular expressions backtrack exponentially: a 190-byte value hung `seal`.
    @Test("a base-60 lookalike value is sealed and unsealed at once, at any length", arguments: [95, 5_000])
    func sexagesimalLookalike(groups: Int) throws {
        let value = String(repeating: "1:", count: groups) + "1x"
        let secret = "apiVersion: v1\nkind: Secret\nmetadata: {name: app, namespace: team-a}\nstringData:\n  k: \(value)\n  \(value): v\n"
        let sealed = try CachetProcess.run(["seal", "--cert", keys.certificate, "-o", "yaml"], stdin: Data(secret.utf8))
        // As an item key it is refused cleanly (colons; or, past 1024 characters, not a YAML simple key at all).
        #expect(sealed.status == 1 && sealed.error.hasPrefix("cachet: error: <stdin>:6:"), "\(sealed.error)")
        #expect(sealed.error.split(separator: "\n").count == 1)
        let valueOnly = "apiVersion: v1\nkind: Secret\nmetadata: {name: app, namespace: team-a}\nstringData:\n  k: \(value)\n"
        let sealedValue = try CachetProcess.run(["seal", "--cert", keys.certificate, "-o", "yaml"], stdin: Data(valueOnly.utf8))
        #expect(sealedValue.status == 0, "\(sealedValue.error)")
        let opened = try CachetProcess.run(["unseal", "--key", keys.keyDirectory, "-o", "json"], stdin: sealedValue.output)
        #expect(opened.status == 0, "\(opened.error)")
        let data = try #require((try JSONSerialization.jsonObject(with: opened.output) as? [String: Any])?["data"] as? [String: String])
        #expect(data["k"] == Data(value.utf8).base64EncodedString())
    }
}
