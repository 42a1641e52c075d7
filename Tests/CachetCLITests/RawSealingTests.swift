import CachetDevCluster
import CachetTestSupport
import Foundation
import Testing

/// `cachet seal --raw` and `cachet unseal --raw`, end to end through the executable.
struct RawSealingTests {
    let keys: GeneratedKeys
    init() throws { keys = try GeneratedKeys() }

    static let scopes: [[String]] = [
        ["--scope", "strict", "-n", "team-a", "--name", "db"],
        ["--scope", "namespace-wide", "--namespace", "team-a"],
        ["--scope", "cluster-wide"],
        ["-n", "team-a", "--name", "db"],  // strict is the default
    ]
    static let canary = Data("CANARY-51ce-\u{0}-binary\n".utf8)

    func seal(_ value: Data, _ scope: [String]) throws -> ProcessResult {
        try CachetProcess.run(["seal", "--raw", "--cert", keys.certificate] + scope, stdin: value)
    }

    func unseal(_ sealed: Data, _ scope: [String], key: String? = nil) throws -> ProcessResult {
        try CachetProcess.run(["unseal", "--raw", "--key", key ?? keys.privateKey] + scope, stdin: sealed)
    }

    @Test("seal then unseal gives the exact bytes, trailing newline and NUL included", arguments: scopes)
    func roundTrip(scope: [String]) throws {
        let sealed = try seal(Self.canary, scope)
        #expect(sealed.status == 0, "\(sealed.error)")
        #expect(sealed.error.isEmpty)
        #expect(sealed.outputText.hasPrefix("AQ"), "RSA-2048 values start with AQ")
        #expect(!sealed.outputText.hasSuffix("\n"), "no trailing newline, as kubeseal --raw")
        let opened = try unseal(sealed.output, scope, key: keys.keyDirectory)
        #expect(opened.status == 0, "\(opened.error)")
        #expect(opened.output == Self.canary)
    }

    @Test("--from-file reads the value from a file, with kubeseal's [key=]path form")
    func fromFile() throws {
        let directory = try TemporaryDirectory()
        try Self.canary.write(to: directory.url.appendingPathComponent("value.bin"))
        for argument in [directory.path("value.bin"), "password=" + directory.path("value.bin")] {
            let sealed = try CachetProcess.run(["seal", "--raw", "--cert", keys.certificate, "--scope", "cluster-wide",
                                                "--from-file", argument])
            #expect(sealed.status == 0, "\(sealed.error)")
            #expect(try unseal(sealed.output, ["--scope", "cluster-wide"]).output == Self.canary)
        }
    }

    @Test("an empty value seals and opens")
    func emptyValue() throws {
        let sealed = try seal(Data(), ["--scope", "cluster-wide"])
        #expect(sealed.status == 0)
        let opened = try unseal(sealed.output, ["--scope", "cluster-wide"])
        #expect(opened.status == 0 && opened.output.isEmpty)
    }

    @Test("a value folded over several lines still opens")
    func foldedInput() throws {
        let sealed = try seal(Self.canary, ["--scope", "cluster-wide"]).outputText
        var folded = ""
        for (index, character) in sealed.enumerated() {
            folded.append(character)
            if index % 76 == 75 { folded += "\n" }
        }
        let opened = try unseal(Data((folded + "\r\n").utf8), ["--scope", "cluster-wide"])
        #expect(opened.status == 0 && opened.output == Self.canary)
    }

    @Test("a strict value opened with another namespace or name fails closed")
    func wrongScope() throws {
        let sealed = try seal(Self.canary, Self.scopes[0]).output
        for other in [["-n", "team-b", "--name", "db"], ["-n", "team-a", "--name", "dbx"], ["--scope", "cluster-wide"],
                      ["--scope", "namespace-wide", "-n", "team-a"]] {
            expectCommandFailure(try unseal(sealed, other), mentioning: "cannot decrypt with this key")
        }
    }

    @Test("altered, truncated or non-base64 input fails closed")
    func damagedInput() throws {
        var envelope = try #require(Data(base64Encoded: try seal(Self.canary, ["--scope", "cluster-wide"]).output))
        let scope = ["--scope", "cluster-wide"]
        envelope[envelope.count - 1] ^= 0x80
        expectCommandFailure(try unseal(Data(envelope.base64EncodedString().utf8), scope), mentioning: "cannot decrypt")
        expectCommandFailure(try unseal(Data(envelope.prefix(100).base64EncodedString().utf8), scope), mentioning: "not a v1 sealed value")
        expectCommandFailure(try unseal(Data("this is not base64".utf8), scope), mentioning: "invalid base64")
        expectCommandFailure(try unseal(Data(), scope), mentioning: "too short")
    }

    @Test("another key fails closed; several --key are tried in turn")
    func severalKeys() throws {
        let directory = try TemporaryDirectory()
        let other = directory.path("other")
        #expect(try CachetProcess.run(["keys", "generate", "--out", other, "--rsa-bits", "2048"]).status == 0)
        let sealed = try seal(Self.canary, ["--scope", "cluster-wide"]).output
        expectCommandFailure(try unseal(sealed, ["--scope", "cluster-wide"], key: other), mentioning: "cannot decrypt")
        let both = try CachetProcess.run(["unseal", "--raw", "--key", other, "--key", keys.keyDirectory,
                                          "--scope", "cluster-wide"], stdin: sealed)
        #expect(both.status == 0 && both.output == Self.canary)
    }

    @Test("a public key PEM and a key directory work as --cert")
    func otherCertificateForms() throws {
        let publicKey = Repository.cryptoFixtures.appendingPathComponent("rsa2048-public.pem").path
        #expect(try CachetProcess.run(["seal", "--raw", "--cert", publicKey, "--scope", "cluster-wide"], stdin: Self.canary).status == 0)
        let sealed = try CachetProcess.run(["seal", "--raw", "--cert", keys.keyDirectory, "--scope", "cluster-wide"],
                                           stdin: Self.canary)
        #expect(sealed.status == 0)
        #expect(try unseal(sealed.output, ["--scope", "cluster-wide"]).output == Self.canary)
    }

    @Test("a value above Kubernetes' 1 MiB Secret limit is refused")
    func oversizedValue() throws {
        let result = try seal(Data(count: (1 << 20) + 1), ["--scope", "cluster-wide"])
        expectCommandFailure(result, mentioning: "larger than 1024 KiB")
    }
}

    /// Each failure: exit 1, one `cachet: error:` line (plus an optional hint), nothing on stdout, no secret anywhere.
func expectCommandFailure(_ result: ProcessResult, mentioning text: String, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(result.status == 1, sourceLocation: sourceLocation)
    #expect(result.output.isEmpty, "nothing half-written on stdout", sourceLocation: sourceLocation)
    let lines = result.error.split(separator: "\n")
    #expect(lines.first?.hasPrefix("cachet: error: ") == true, "\(result.error)", sourceLocation: sourceLocation)
    #expect(lines.count == 1 || (lines.count == 2 && lines[1].hasPrefix("cachet: hint: ")), "\(result.error)",
            sourceLocation: sourceLocation)
    #expect(result.error.contains(text), "\(result.error)", sourceLocation: sourceLocation)
    #expect(!result.error.contains("CANARY"), sourceLocation: sourceLocation)
}

/// Failures that need no key pair.
struct RawSealingRefusalTests {
    @Test("usage mistakes exit 64 and name the flag", arguments: [
        (["seal", "--raw", "--cert", "x", "-n", "ns"], "--name"),
        (["seal", "--raw", "--cert", "x", "--scope", "everywhere"], "--scope"),
        (["seal", "--cert", "x", "--from-file", "x"], "--from-file works only with --raw"),
        (["seal", "--raw", "--cert", "x", "--scope", "cluster-wide", "-w", "out"], "-w seals manifests"),
        (["unseal", "--key", "x", "--scope", "cluster-wide"], "--scope, --name and --item apply to --raw only"),
        (["seal", "--raw", "--cert", "x", "-n", "Team_A", "--name", "app"], "namespace \"Team_A\""),
        (["seal", "--raw", "--cert", "x", "-n", "ns", "--name", "a/b"], "name \"a/b\""),
        (["unseal", "--raw", "--scope", "cluster-wide"], "--key"),
        (["unseal", "--raw", "--key", "x", "-n", "ns"], "--name"),
    ])
    func usageErrors(arguments: [String], flag: String) throws {
        let result = try CachetProcess.run(arguments)
        #expect(result.status == 64, "\(result.error)")
        #expect(result.error.hasPrefix("cachet: error:"))
        #expect(result.error.contains(flag), "\(result.error)")
        #expect(result.output.isEmpty)
    }

    @Test("without --cert and without a cluster to ask, the error says so and points at --cert")
    func noCertificateAnywhere() throws {
        let home = FileManager.default.temporaryDirectory.appendingPathComponent("cachet-no-kube-\(getpid())")
        try FileManager.default.createDirectory(at: home, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: home) }
        let result = try CachetProcess.run(["seal", "--raw", "--scope", "cluster-wide"], stdin: Data("v".utf8),
                                           environment: ["HOME": home.path, "PATH": "/usr/bin:/bin"])
        #expect(result.status == 1)
        #expect(result.error.hasPrefix("cachet: error: no kubeconfig"), "\(result.error)")
        #expect(result.error.contains("--cert"), "\(result.error)")
        #expect(result.output.isEmpty)
    }

    @Test("sealing keys that are refused, each with its reason", arguments: [
        ("expired.crt", "the certificate expired at"),
        ("not-yet-valid.crt", "not valid before"),
        ("rsa1024.crt", "1024 bits"),
        ("rsa1024-public.pem", "1024 bits"),
        ("ec-p256.crt", "EC"),
        ("ec-p256.key", "this is a private key"),
    ])
    func refusedCertificates(file: String, reason: String) throws {
        let path = Repository.cryptoFixtures.appendingPathComponent(file).path
        let result = try CachetProcess.run(["seal", "--raw", "--cert", path, "--scope", "cluster-wide"], stdin: RawSealingTests.canary)
        expectCommandFailure(result, mentioning: reason)
        #expect(result.error.contains(file), "the error names the file")
    }

    @Test("missing files are named")
    func missingFiles() throws {
        expectCommandFailure(try CachetProcess.run(["seal", "--raw", "--cert", "/nonexistent/tls.crt", "--scope", "cluster-wide"]),
                      mentioning: "cannot open /nonexistent/tls.crt")
        expectCommandFailure(try CachetProcess.run(["unseal", "--raw", "--key", "/nonexistent", "--scope", "cluster-wide"]),
                      mentioning: "cannot open /nonexistent")
    }
}

/// `--cert https://…`: fetched with TLS verification, never over plain HTTP.
struct CertificateURLTests {
    /// A Python HTTPS server over a directory, with a certificate for 127.0.0.1 and localhost from a fresh CA.
    final class HTTPSServer: @unchecked Sendable {
        let process = Process()
        let port: Int
        let directory: TemporaryDirectory

        init(serving directory: TemporaryDirectory, material: DevCluster.TLSMaterial) throws {
            self.directory = directory
            let certificate = directory.path("server.crt"), key = directory.path("server.key")
            try Data(material.serverCertificatePEM).write(to: URL(fileURLWithPath: certificate))
            try material.serverKeyPEM.withUnsafeBytes { try Data($0).write(to: URL(fileURLWithPath: key)) }
            let script = """
                import http.server, ssl, sys, os
                os.chdir(sys.argv[1])
                context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
                context.load_cert_chain(sys.argv[2], sys.argv[3])
                server = http.server.HTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
                server.socket = context.wrap_socket(server.socket, server_side=True)
                print(server.server_address[1], flush=True)
                server.serve_forever()
                """
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["python3", "-c", script, directory.url.path, certificate, key]
            let output = Pipe()
            process.standardOutput = output
            process.standardError = FileHandle.nullDevice
            try process.run()
            var line = ""
            while !line.hasSuffix("\n") {
                let byte = output.fileHandleForReading.readData(ofLength: 1)
                if byte.isEmpty { break }
                line += String(decoding: byte, as: UTF8.self)
            }
            guard let port = Int(line.trimmingCharacters(in: .whitespacesAndNewlines)) else {
                throw CocoaError(.fileReadUnknown)
            }
            self.port = port
        }

        deinit {
            // SIGKILL: a child inherits the spawning thread's signal mask, which may block SIGTERM.
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    @Test("an https certificate URL verified with --cert-ca seals; without the CA it is refused; http is refused")
    func certificateURL() throws {
        let keys = try GeneratedKeys()
        let material = try DevCluster.TLSMaterial.generate()
        let server = try HTTPSServer(serving: keys.directory, material: material)
        let ca = keys.directory.path("ca.pem")
        try Data(material.certificateAuthorityPEM).write(to: URL(fileURLWithPath: ca))
        let url = "https://127.0.0.1:\(server.port)/keys/tls.crt"

        let sealed = try CachetProcess.run(["seal", "--raw", "--cert", url, "--cert-ca", ca, "--scope", "cluster-wide"],
                                           stdin: Data("fetched".utf8))
        #expect(sealed.status == 0, "\(sealed.error)")
        let opened = try CachetProcess.run(["unseal", "--raw", "--key", keys.privateKey, "--scope", "cluster-wide"], stdin: sealed.output)
        #expect(opened.outputText == "fetched")

        let untrusted = try CachetProcess.run(["seal", "--raw", "--cert", url, "--scope", "cluster-wide"], stdin: Data("x".utf8))
        #expect(untrusted.status == 1 && untrusted.error.contains("not trusted") && untrusted.error.contains("--cert-ca"))
        #expect(untrusted.output.isEmpty)

        // Plain http only to this machine (a port-forward); anywhere else it could be swapped in transit.
        let plain = try CachetProcess.run(["seal", "--raw", "--cert", "http://192.0.2.1:\(server.port)/keys/tls.crt", "--scope", "cluster-wide"],
                                          stdin: Data("x".utf8))
        #expect(plain.status == 1 && plain.error.contains("plain http:// is fetched only from 127.0.0.1"), "\(plain.error)")
    }
}
