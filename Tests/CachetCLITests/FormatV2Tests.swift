import CachetTestSupport
import Foundation
import Testing

/// The real `age` (Debian's 1.1.1; scripts/bootstrap installs it) as the independent peer for format v2.
enum AgeTool {
    static let age = ["/usr/bin/age", "/usr/local/bin/age"].first { FileManager.default.isExecutableFile(atPath: $0) }
    static let keygen = ["/usr/bin/age-keygen", "/usr/local/bin/age-keygen"].first { FileManager.default.isExecutableFile(atPath: $0) }
    static var found: Bool { age != nil && keygen != nil }

    static func run(_ arguments: [String], stdin: Data = Data()) throws -> ProcessResult {
        try TestProcess.run(URL(fileURLWithPath: age!), arguments, stdin: stdin)
    }
}

/// Format v2 through the CLI: keys, sealing to recipients, opening, interop with `age` both ways, break-glass.
@Suite(.enabled(if: AgeTool.found, "age and age-keygen are missing (scripts/bootstrap installs Debian's age)"))
struct FormatV2Tests {
    let directory: TemporaryDirectory
    let cluster: String
    let offline: String

    init() throws {
        directory = try TemporaryDirectory()
        cluster = directory.path("cluster")
        offline = directory.path("offline")
        for out in [cluster, offline] {
            let result = try CachetProcess.run(["keys", "generate", "--out", out, "--rsa-bits", "2048"])
            guard result.status == 0 else { throw CocoaError(.fileWriteUnknown, userInfo: ["stderr": result.error]) }
        }
        let both = try String(contentsOfFile: cluster + "/age-recipients.txt", encoding: .utf8)
            + "# the offline break-glass key\n" + String(contentsOfFile: offline + "/age-recipients.txt", encoding: .utf8)
        _ = try directory.write("recipients", both, mode: 0o644)
    }

    static let secret = """
        apiVersion: v1
        kind: Secret
        metadata: {name: app, namespace: team-a}
        type: Opaque
        stringData:
          password: "hunter2"
          config.txt: "line one\\nline two\\n"
        data:
          blob: AAEC/w==
        """

    func seal(_ extra: [String] = [], input: String = FormatV2Tests.secret) throws -> ProcessResult {
        try CachetProcess.run(["seal", "--recipients-file", directory.path("recipients"), "-o", "yaml"] + extra, stdin: Data(input.utf8))
    }

    /// The `encryptedData` entries of a sealed YAML (cachet writes each value on one line).
    static func values(_ yaml: String) -> [String: String] {
        var values: [String: String] = [:]
        var inside = false
        for line in yaml.split(separator: "\n") {
            if line.hasPrefix("  encryptedData:") { inside = true; continue }
            guard inside else { continue }
            guard line.hasPrefix("    ") else { inside = false; continue }
            let parts = line.trimmingCharacters(in: .whitespaces).split(separator: ":", maxSplits: 1)
            values[String(parts[0])] = parts[1].trimmingCharacters(in: .whitespaces)
        }
        return values
    }

    @Test("keys generate writes age's own forms: age-keygen -y agrees, the identity is 0600, nothing is overwritten")
    func keyFiles() throws {
        let identity = cluster + "/age-identity.txt"
        let mode = try FileManager.default.attributesOfItem(atPath: identity)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        let text = try String(contentsOfFile: identity, encoding: .utf8)
        #expect(text.hasPrefix("# created: ") && text.contains("\n# public key: age1") && text.contains("\nAGE-SECRET-KEY-1"))
        let derived = try TestProcess.run(URL(fileURLWithPath: AgeTool.keygen!), ["-y", identity])
        let recipients = try String(contentsOfFile: cluster + "/age-recipients.txt", encoding: .utf8)
        #expect(derived.status == 0 && derived.outputText == recipients)

        let only = try TemporaryDirectory()
        try "old".write(toFile: only.path("age-identity.txt"), atomically: true, encoding: .utf8)
        let again = try CachetProcess.run(["keys", "generate", "--out", only.url.path, "--rsa-bits", "2048"])
        #expect(again.status == 1 && again.error.contains("age-identity.txt already exists"), "\(again.error)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: only.url.path) == ["age-identity.txt"])

        let list = try CachetProcess.run(["keys", "list", cluster])
        #expect(list.outputText.contains("age identity   X25519") && list.outputText.contains("age recipient  X25519"), "\(list.outputText)")
        #expect(!list.outputText.contains("AGE-SECRET-KEY"))
    }

    @Test("a sealed manifest opens with cachet (either key) and with age -d, which shows the binding line")
    func sealAndOpenBothWays() throws {
        let sealed = try seal()
        #expect(sealed.status == 0, "\(sealed.error)")
        let yaml = sealed.outputText
        let clusterID = try CachetProcess.run(["keys", "list", cluster + "/age-recipients.txt"]).outputText.split(separator: "\n")[1].prefix(16)
        let offlineID = try CachetProcess.run(["keys", "list", offline + "/age-recipients.txt"]).outputText.split(separator: "\n")[1].prefix(16)
        #expect(yaml.contains("cachet.dev/sealed-by: \(clusterID),\(offlineID)"), "\(yaml)")

        let expected: [String: [UInt8]] = [
            "password": Array("hunter2".utf8), "config.txt": Array("line one\nline two\n".utf8), "blob": [0, 1, 2, 255],
        ]
        let values = Self.values(yaml)
        #expect(Set(values.keys) == Set(expected.keys))
        for (item, value) in values {
            let opened = try AgeTool.run(["-d", "-i", offline + "/age-identity.txt"], stdin: Data(base64Encoded: value)!)
            #expect(opened.status == 0, "\(opened.error)")
            #expect([UInt8](opened.output) == Array("cachet.dev/v2 strict team-a app \(item)\n".utf8) + expected[item]!)
        }

        let file = try directory.write("app.sealed.yaml", yaml, mode: 0o644)
        for key in [cluster, offline + "/age-identity.txt"] {
            let unsealed = try CachetProcess.run(["unseal", "--key", key, "-f", file, "-o", "json"])
            #expect(unsealed.status == 0, "\(unsealed.error)")
            let object = try JSONSerialization.jsonObject(with: unsealed.output) as! [String: Any]
            let data = object["data"] as! [String: String]
            #expect(data.mapValues { [UInt8](Data(base64Encoded: $0)!) } == expected)
        }
    }

    @Test("cachet opens what age -r produced, once it carries the binding line, raw and in a SealedSecret")
    func opensAgeOutput() throws {
        let recipient = try String(contentsOfFile: cluster + "/age-recipients.txt", encoding: .utf8).trimmingCharacters(in: .newlines)
        let made = try AgeTool.run(["-r", recipient], stdin: Data("cachet.dev/v2 namespace-wide team-a token\nfrom age".utf8))
        #expect(made.status == 0, "\(made.error)")
        let value = made.output.base64EncodedString()

        let raw = try CachetProcess.run(["unseal", "--raw", "--key", cluster, "--scope", "namespace-wide", "-n", "team-a", "--item", "token"],
                                        stdin: Data(value.utf8))
        #expect(raw.status == 0 && raw.outputText == "from age", "\(raw.error)")

        let manifest = """
            apiVersion: bitnami.com/v1alpha1
            kind: SealedSecret
            metadata:
              name: anything
              namespace: team-a
              annotations: {sealedsecrets.bitnami.com/namespace-wide: "true"}
            spec:
              encryptedData:
                token: \(value)
            """
        let file = try directory.write("made-by-age.yaml", manifest, mode: 0o644)
        let opened = try CachetProcess.run(["unseal", "--key", cluster, "-f", file, "-o", "json"])
        #expect(opened.status == 0, "\(opened.error)")
        #expect(opened.outputText.contains("\"token\": \"ZnJvbSBhZ2U=\""), "\(opened.outputText)")

        let withoutBinding = try AgeTool.run(["-r", recipient], stdin: Data("from age".utf8)).output.base64EncodedString()
        let refused = try CachetProcess.run(["unseal", "--key", cluster, "-f", "-", "-o", "json"],
                                            stdin: Data(manifest.replacingOccurrences(of: value, with: withoutBinding).utf8))
        #expect(refused.status == 1 && refused.error.contains("cannot decrypt token"), "\(refused.error)")
    }

    /// docs/operations.md's break-glass script, run verbatim in a checkout with nothing but age and coreutils.
    @Test("the documented break-glass script recovers every v2 value of a checkout with age alone")
    func breakGlass() throws {
        let doc = try String(contentsOf: Repository.root.appendingPathComponent("docs/operations.md"), encoding: .utf8)
        let marker = try #require(doc.range(of: "<!-- break-glass script: run verbatim by the test suite (BreakGlassTests) -->"))
        let block = doc[marker.upperBound...].drop { $0 != "`" }
        let script = block.dropFirst("```sh\n".count).prefix { _ in true }.components(separatedBy: "\n```")[0]
        #expect(script.contains("age -d -i"))

        let checkout = try TemporaryDirectory()
        try FileManager.default.createDirectory(atPath: checkout.path("offline-key"), withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: offline + "/age-identity.txt", toPath: checkout.path("offline-key/age-identity.txt"))
        try FileManager.default.createDirectory(atPath: checkout.path("apps/web"), withIntermediateDirectories: true)
        let yaml = try seal()
        try yaml.output.write(to: URL(fileURLWithPath: checkout.path("apps/web/app.yaml")))
        let json = try CachetProcess.run(["seal", "--recipients-file", directory.path("recipients"), "-o", "json"],
                                         stdin: Data(Self.secret.replacingOccurrences(of: "name: app", with: "name: db").utf8))
        try json.output.write(to: URL(fileURLWithPath: checkout.path("apps/db.json")))
        // A v1 value beside them is not the script's business and must not disturb it.
        let v1 = try CachetProcess.run(["seal", "--cert", cluster + "/tls.crt", "-o", "yaml"], stdin: Data(Self.secret.utf8))
        try v1.output.write(to: URL(fileURLWithPath: checkout.path("apps/v1.yaml")))

        let result = try TestProcess.run(URL(fileURLWithPath: "/bin/bash"), ["-euo", "pipefail", "-c", script],
                                         environment: .exactly(["PATH": "/usr/bin:/bin", "LC_ALL": "C"]), directory: checkout.url)
        #expect(result.status == 0, "\(result.error)")
        let output = result.outputText
        for file in ["./apps/web/app.yaml", "./apps/db.json"] {
            for item in ["password", "config.txt", "blob"] {
                #expect(output.contains("== \(file):") && output.range(of: "== \(file):[0-9]+:\(item)\n", options: .regularExpression) != nil,
                        "\(file) \(item): \(output)")
            }
        }
        #expect(output.components(separatedBy: "hunter2\n").count == 3)
        #expect(output.components(separatedBy: "line one\nline two\n\n").count == 3)
        #expect(!output.contains("cachet.dev/v2"), "the binding line is stripped")
    }

    @Test("bad recipients, exposed identities and mixed-up flags: one clear line, non-zero exit, nothing written")
    func badInput() throws {
        let recipient = try String(contentsOfFile: cluster + "/age-recipients.txt", encoding: .utf8).trimmingCharacters(in: .newlines)
        let flipped = recipient.dropLast() + (recipient.last == "q" ? "p" : "q")
        let mixed = "AGE" + recipient.dropFirst(3)
        let out = directory.path("out.yaml")
        for (arguments, status, message) in [
            (["--recipient", String(flipped)], Int32(1), "--recipient #1: not a valid age recipient: its checksum is wrong"),
            (["--recipient", String(mixed)], 1, "--recipient #1: not a valid age recipient: it mixes upper and lower case"),
            (["--recipient", "AGE-SECRET-KEY-1XYZ"], 1, "this is an age identity"),
            (["--recipient", recipient, "--cert", cluster + "/tls.crt"], 64, "--cert seals format v1"),
        ] as [([String], Int32, String)] {
            let result = try CachetProcess.run(["seal", "-o", "yaml", "-w", out] + arguments, stdin: Data(Self.secret.utf8))
            #expect(result.status == status, "\(arguments): \(result.error)")
            #expect(result.error.hasPrefix("cachet: error: ") && result.error.contains(message), "\(result.error)")
            #expect(!result.error.contains("hunter2") && !FileManager.default.fileExists(atPath: out))
        }
        let badFile = try directory.write("bad-recipients", "# ok\n\(recipient)\n\(flipped)\n", mode: 0o644)
        let fromFile = try CachetProcess.run(["seal", "--recipients-file", badFile, "-w", out], stdin: Data(Self.secret.utf8))
        #expect(fromFile.status == 1 && fromFile.error.contains("\(badFile): line 3: not a valid age recipient"), "\(fromFile.error)")

        let raw = try CachetProcess.run(["seal", "--raw", "--recipient", recipient, "--scope", "cluster-wide"], stdin: Data("v".utf8))
        #expect(raw.status == 64 && raw.error.contains("pass --item"), "\(raw.error)")

        let v1Item = try CachetProcess.run(["seal", "--raw", "--cert", cluster + "/tls.crt", "--scope", "cluster-wide", "--item", "k"], stdin: Data("v".utf8))
        #expect(v1Item.status == 64 && v1Item.error.contains("--item applies to format v2"), "\(v1Item.error)")

        let identityLine = try String(contentsOfFile: cluster + "/age-identity.txt", encoding: .utf8).split(separator: "\n").last!
        let lower = try directory.write("lower-identity.txt", identityLine.lowercased() + "\n")
        let lowerResult = try CachetProcess.run(["unseal", "--key", lower, "-f", "-"], stdin: Data(try seal().output))
        #expect(lowerResult.status == 1 && lowerResult.error.contains("line 1: not an age identity: identities are written in upper case"),
                "\(lowerResult.error)")
        #expect(!lowerResult.error.contains(identityLine.lowercased().dropFirst(16).prefix(10)))

        let twoInDirectory = directory.path("two-identities")
        try FileManager.default.createDirectory(atPath: twoInDirectory, withIntermediateDirectories: true)
        _ = try directory.write("two-identities/age-identity.txt", identityLine + "\n" + identityLine + "\n")
        let directoryResult = try CachetProcess.run(["unseal", "--key", twoInDirectory, "-f", "-"], stdin: Data(try seal().output))
        #expect(directoryResult.status == 1 && directoryResult.error.contains("holds 2 age identities; a key directory's holds exactly one"),
                "\(directoryResult.error)")

        let tlsKey = try Data(contentsOf: URL(fileURLWithPath: cluster + "/tls.key")).base64EncodedString()
        let twoIdentities = Data((identityLine + "\n" + identityLine + "\n").utf8).base64EncodedString()
        let backup = try directory.write("backup.yaml", """
            apiVersion: v1
            kind: Secret
            metadata: {name: sealed-secrets-key1, namespace: kube-system}
            type: kubernetes.io/tls
            data:
              tls.key: \(tlsKey)
              age-identity.txt: \(twoIdentities)
            """)
        let backupResult = try CachetProcess.run(["unseal", "--key", backup, "-f", "-"], stdin: Data(try seal().output))
        #expect(backupResult.status == 1 && backupResult.error.contains("data.age-identity.txt") && backupResult.error.contains("exactly one"),
                "\(backupResult.error)")

        let exposed = try directory.write("exposed-identity.txt", try String(contentsOfFile: cluster + "/age-identity.txt", encoding: .utf8), mode: 0o644)
        let sealed = try directory.write("sealed.yaml", try seal().outputText, mode: 0o644)
        let refused = try CachetProcess.run(["unseal", "--key", exposed, "-f", sealed])
        #expect(refused.status == 1 && refused.error.contains("chmod 600"), "\(refused.error)")
        #expect(!refused.error.contains("AGE-SECRET-KEY"))
    }

    @Test("a v2 value moved to another item, name or namespace does not open, and nothing is written")
    func movedValues() throws {
        let yaml = try seal().outputText
        let value = Self.values(yaml)["password"]!
        let out = directory.path("unsealed.yaml")
        for (label, edited) in [
            ("item", yaml.replacingOccurrences(of: "    password: ", with: "    token: ")),
            ("name", yaml.replacingOccurrences(of: "name: app", with: "name: other")),
            ("namespace", yaml.replacingOccurrences(of: "namespace: team-a", with: "namespace: team-b")),
            ("truncated payload", yaml.replacingOccurrences(of: value, with: String(value.dropLast(8)))),
            ("truncated base64", yaml.replacingOccurrences(of: value, with: String(value.dropLast(3)))),
        ] {
            let result = try CachetProcess.run(["unseal", "--key", cluster, "-f", "-", "-w", out], stdin: Data(edited.utf8))
            #expect(result.status == 1, "\(label): \(result.error)")
            #expect(result.error.hasPrefix("cachet: error: -:2:1: document 1: spec.encryptedData: "), "\(label): \(result.error)")
            #expect(result.error.contains(label == "truncated base64" ? "not a sealed value: password" : "cannot decrypt"), "\(label): \(result.error)")
            #expect(result.error.split(separator: "\n").count == 1)
            #expect(!FileManager.default.fileExists(atPath: out))
        }
    }

    /// Each damage the format names, made to a real value in a sealed file: one line naming the file, document and
    /// item, exit 1, no output file, no value.
    @Test("damaged v2 values: non-canonical or all-zero share, a header that is not age's, tampered MAC or chunk")
    func damagedValues() throws {
        let yaml = try seal().outputText
        let value = Self.values(yaml)["password"]!
        var envelope = [UInt8](Data(base64Encoded: value)!)
        let text = String(decoding: envelope, as: UTF8.self)
        let share = String(text.split(separator: "\n")[1].dropFirst("-> X25519 ".count))
        func replacing(_ old: String, _ new: String) -> [UInt8] {
            let header = envelope.firstRange(of: Array("\n--- ".utf8))!.upperBound + 44
            return Array(String(decoding: envelope[..<header], as: UTF8.self).replacingOccurrences(of: old, with: new).utf8) + envelope[header...]
        }
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
        let nonCanonical = share.dropLast() + String(alphabet[alphabet.firstIndex(of: share.last!)! ^ 1])
        let zero = String(repeating: "A", count: 43)
        var tamperedMAC = envelope
        let macStart = envelope.firstRange(of: Array("\n--- ".utf8))!.upperBound
        tamperedMAC[macStart + 10] = tamperedMAC[macStart + 10] == UInt8(ascii: "B") ? UInt8(ascii: "C") : UInt8(ascii: "B")
        envelope[envelope.count - 3] ^= 0x40
        let tamperedChunk = envelope
        let out = directory.path("damaged-out.yaml")
        for (label, damaged, message) in [
            ("non-canonical share", replacing(share, String(nonCanonical)), "not a sealed value: password"),
            ("all-zero share", replacing(share, zero), "cannot decrypt password"),
            ("not age's header", replacing("age-encryption.org/v1", "age-encryption.org/v9"), "not a sealed value: password"),
            ("tampered MAC", tamperedMAC, "cannot decrypt password"),
            ("tampered chunk", tamperedChunk, "cannot decrypt password"),
        ] {
            let edited = yaml.replacingOccurrences(of: value, with: Data(damaged).base64EncodedString())
            let result = try CachetProcess.run(["unseal", "--key", cluster, "-f", "-", "-w", out], stdin: Data(edited.utf8))
            #expect(result.status == 1, "\(label): \(result.error)")
            #expect(result.error.hasPrefix("cachet: error: -:2:1: document 1: spec.encryptedData: ") && result.error.contains(message),
                    "\(label): \(result.error)")
            #expect(result.error.split(separator: "\n").count == 1 && !result.error.contains("hunter2"))
            #expect(!FileManager.default.fileExists(atPath: out))
        }
    }

    @Test("--merge-into puts v2 items beside v1 ones; both open, sealed-by names the v2 recipients first")
    func mergeIntoV1() throws {
        let v1 = try CachetProcess.run(["seal", "--cert", cluster + "/tls.crt", "-o", "yaml"], stdin: Data(Self.secret.utf8))
        let file = try directory.write("mixed.yaml", v1.outputText, mode: 0o644)
        let update = """
            apiVersion: v1
            kind: Secret
            metadata: {name: app, namespace: team-a}
            stringData: {password: "rotated"}
            """
        let merged = try CachetProcess.run(["seal", "--recipients-file", directory.path("recipients"), "--merge-into", file], stdin: Data(update.utf8))
        #expect(merged.status == 0, "\(merged.error)")
        let text = try String(contentsOfFile: file, encoding: .utf8)
        #expect(Self.values(text)["password"]!.hasPrefix("YWdlLWVuY3J5cHRpb24ub3JnL3Yx"))
        #expect(!Self.values(text)["blob"]!.hasPrefix("YWdl"))
        let unsealed = try CachetProcess.run(["unseal", "--key", cluster, "-f", file, "-o", "json"])
        #expect(unsealed.status == 0 && unsealed.outputText.contains("\"password\": \"cm90YXRlZA==\""), "\(unsealed.error)")
        let sealedBy = text.split(separator: "\n").first { $0.contains("cachet.dev/sealed-by") }!
        #expect(sealedBy.split(separator: ",").count == 3, "two recipients, then the v1 key: \(sealedBy)")
    }
}
