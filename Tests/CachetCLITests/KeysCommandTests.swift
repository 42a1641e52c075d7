import CachetTestSupport
import Foundation
import Testing

struct KeysCommandTests {
    @Test("keys generate writes tls.key (0600, PKCS#1), tls.crt and the age files, and never overwrites")
    func generate() throws {
        let directory = try TemporaryDirectory()
        let out = directory.path("new/keys")
        try FileManager.default.createDirectory(atPath: directory.path("new"), withIntermediateDirectories: true)
        let first = try CachetProcess.run(["keys", "generate", "--out", out, "--rsa-bits", "2048"])
        #expect(first.status == 0, "\(first.error)")
        #expect(first.error.contains("key id"))

        let keyAttributes = try FileManager.default.attributesOfItem(atPath: out + "/tls.key")
        #expect((keyAttributes[.posixPermissions] as? Int) == 0o600)
        let directoryAttributes = try FileManager.default.attributesOfItem(atPath: out)
        #expect((directoryAttributes[.posixPermissions] as? Int) == 0o700)
        let key = try String(contentsOfFile: out + "/tls.key", encoding: .utf8)
        let certificate = try String(contentsOfFile: out + "/tls.crt", encoding: .utf8)
        #expect(key.hasPrefix("-----BEGIN RSA PRIVATE KEY-----"))
        #expect(certificate.hasPrefix("-----BEGIN CERTIFICATE-----"))
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: out).sorted()
        #expect(leftovers == ["age-identity.txt", "age-recipients.txt", "tls.crt", "tls.key"], "no temporary files left behind")

        let second = try CachetProcess.run(["keys", "generate", "--out", out, "--rsa-bits", "2048"])
        #expect(second.status == 1)
        #expect(second.error.hasPrefix("cachet: error: \(out)/tls.key already exists"))
        #expect(second.error.contains("cachet: hint:"))
        #expect(try String(contentsOfFile: out + "/tls.key", encoding: .utf8) == key, "the old key is untouched")
        #expect(try String(contentsOfFile: out + "/tls.crt", encoding: .utf8) == certificate)
    }

    @Test("an existing tls.crt alone also stops generation, and no tls.key appears")
    func existingCertificate() throws {
        let directory = try TemporaryDirectory()
        try "old".write(toFile: directory.path("tls.crt"), atomically: true, encoding: .utf8)
        let result = try CachetProcess.run(["keys", "generate", "--out", directory.url.path, "--rsa-bits", "2048"])
        #expect(result.status == 1)
        #expect(!FileManager.default.fileExists(atPath: directory.path("tls.key")))
    }

    @Test("usage mistakes exit 64 and name the flag", arguments: [
        (["keys", "generate", "--out", "/tmp/x", "--rsa-bits", "1024"], "--rsa-bits"),
        (["keys", "generate", "--out", "/tmp/x", "--validity-days", "0"], "--validity-days"),
        (["keys", "generate"], "--out"),
        (["keys", "list"], "<paths>"),
    ])
    func usageErrors(arguments: [String], flag: String) throws {
        let result = try CachetProcess.run(arguments)
        #expect(result.status == 64)
        #expect(result.error.hasPrefix("cachet: error:"))
        #expect(result.error.contains(flag), "\(result.error)")
    }

    @Test("keys list and inspect show the key id, and nothing private")
    func listAndInspect() throws {
        let keys = try GeneratedKeys()
        let list = try CachetProcess.run(["keys", "list", keys.keyDirectory])
        #expect(list.status == 0, "\(list.error)")
        let lines = list.outputText.split(separator: "\n")
        #expect(lines.count == 5)
        let ids = lines.dropFirst().map { $0.split(separator: " ")[0] }
        #expect(ids.count == 4 && ids[0] == ids[1] && ids[0].count == 16, "certificate and key have one id")
        #expect(ids.count == 4 && ids[2] == ids[3] && ids[2] != ids[0], "the age identity and recipient have one id, their own")
        #expect(lines[1].contains("certificate") && lines[2].contains("private key"))
        #expect(lines[3].contains("age identity") && lines[4].contains("age recipient"))

        let inspect = try CachetProcess.run(["keys", "inspect", keys.privateKey, keys.certificate])
        #expect(inspect.status == 0, "\(inspect.error)")
        #expect(inspect.outputText.contains("key id:     \(ids[0])"))
        #expect(inspect.outputText.contains("subject:    (empty)"))
        #expect(inspect.outputText.contains("status:     valid"))
        let keyBody = try String(contentsOfFile: keys.privateKey, encoding: .utf8).split(separator: "\n")[1]
        #expect(!inspect.outputText.contains(keyBody.prefix(16)))
    }

    @Test("a private key readable by others is refused, with the fix as a hint")
    func exposedPrivateKey() throws {
        let keys = try GeneratedKeys()
        let directory = try TemporaryDirectory()
        let copy = directory.path("tls.key")
        try FileManager.default.copyItem(atPath: keys.privateKey, toPath: copy)
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: copy)
        let result = try CachetProcess.run(["keys", "inspect", copy])
        #expect(result.status == 1)
        #expect(result.error.contains("readable or writable by others (mode 644)"))
        #expect(result.error.contains("cachet: hint: restrict it with: chmod 600 \(copy)"))
    }
}
