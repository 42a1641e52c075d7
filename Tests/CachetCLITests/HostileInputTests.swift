import Foundation
import CachetTestSupport
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

    /// A 65,536-byte modulus overflowed the v1 length prefix (`UInt8(count >> 8)` trapped, exit 132).
    @Test("public keys over 16,384 bits are refused, not crashed on", arguments: [65_536, 16_384 / 8 + 8])
    func hugeModulus(bytes: Int) throws {
        let directory = try TemporaryDirectory()
        var modulus = [UInt8](repeating: 0xC5, count: bytes)
        modulus[bytes - 1] = 0x01  // odd
        let publicKey = DERBuilder.sequence(
            DERBuilder.sequence(DERBuilder.element(0x06, [0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x01]) + [0x05, 0x00])
                + DERBuilder.element(0x03, [0] + DERBuilder.sequence(DERBuilder.integer(modulus) + DERBuilder.integer([1, 0, 1]))))
        let pem = "-----BEGIN PUBLIC KEY-----\n" + Data(publicKey).base64EncodedString(options: [.lineLength64Characters, .endLineWithLineFeed])
            + "\n-----END PUBLIC KEY-----\n"
        try Data(pem.utf8).write(to: URL(fileURLWithPath: directory.path("big.pem")))
        let sealed = try CachetProcess.run(["seal", "--raw", "--scope", "cluster-wide", "--cert", directory.path("big.pem")], stdin: Data("v".utf8))
        #expect(sealed.status == 1, "\(sealed.status): \(sealed.error)")
        #expect(sealed.error.contains("at most 16384 bits"), "\(sealed.error)")
    }

    /// Past the secure heap's share (about 32,000 small values), each value sits in its own guarded allocation
    /// (mappings with guard pages); tens of thousands exhausted them and `fatalError` crashed the CLI. An address-space
    /// limit makes the exhaustion certain on any machine.
    @Test("a Secret with 70,000 items that exhausts guarded memory is refused with one line")
    func manyItems() throws {
        let directory = try TemporaryDirectory()
        var secret = "apiVersion: v1\nkind: Secret\nmetadata: {name: app, namespace: team-a}\nstringData:\n"
        for index in 0..<70_000 { secret += "  k\(index): v\n" }
        try Data(secret.utf8).write(to: URL(fileURLWithPath: directory.path("many.yaml")))
        let sealed = try CachetProcess.run(["-c", "ulimit -v 300000; exec \"$0\" seal --cert \"$1\" -f \"$2\"",
                                            CachetProcess.executable.path, keys.certificate, directory.path("many.yaml")],
                                           executable: URL(fileURLWithPath: "/bin/bash"))
        #expect(sealed.status == 1, "exit \(sealed.status): \(sealed.error.prefix(300))")
        #expect(sealed.error.contains("out of guarded memory") && sealed.error.split(separator: "\n").count == 1, "\(sealed.error.prefix(300))")
    }

    /// kubeseal's README seals `--raw --from-file=/dev/stdin`; process substitution hands over `/dev/fd/N`, a pipe.
    @Test("pipes are read as input files: /dev/stdin and <(…); a directory is named as one")
    func pipesAsFiles() throws {
        let raw = try CachetProcess.run(["seal", "--raw", "--scope", "cluster-wide", "--cert", keys.certificate, "--from-file=/dev/stdin"],
                                        stdin: Data("hunter2".utf8))
        #expect(raw.status == 0 && raw.outputText.hasPrefix("AQ"), "\(raw.error)")
        let secret = "apiVersion: v1\nkind: Secret\nmetadata: {name: app, namespace: team-a}\nstringData: {k: v}\n"
        let viaStdin = try CachetProcess.run(["seal", "--cert", keys.certificate, "-f", "/dev/stdin"], stdin: Data(secret.utf8))
        #expect(viaStdin.status == 0, "\(viaStdin.error)")
        let shell = Process()
        shell.executableURL = URL(fileURLWithPath: "/bin/bash")
        shell.arguments = ["-c", "printf '%s' \"$1\" > /dev/null; \"$0\" seal --cert \"$2\" -f <(printf '%s' \"$1\")",
                           CachetProcess.executable.path, secret, keys.certificate]
        let output = Pipe()
        shell.standardOutput = output
        shell.standardError = FileHandle.nullDevice
        try shell.run()
        let sealed = output.fileHandleForReading.readDataToEndOfFile()
        shell.waitUntilExit()
        #expect(shell.terminationStatus == 0 && String(decoding: sealed, as: UTF8.self).contains("SealedSecret"))
        let directory = try CachetProcess.run(["seal", "--cert", keys.certificate, "-f", keys.directory.url.path])
        #expect(directory.status == 1 && directory.error.contains("is a directory"), "\(directory.error)")
    }
}

/// Just enough DER to build keys the tests need and no library would make.
enum DERBuilder {
    static func element(_ tag: UInt8, _ contents: [UInt8]) -> [UInt8] {
        var length: [UInt8] = []
        var count = contents.count
        if count < 0x80 {
            length = [UInt8(count)]
        } else {
            while count > 0 { length.insert(UInt8(count & 0xFF), at: 0); count >>= 8 }
            length.insert(0x80 | UInt8(length.count), at: 0)
        }
        return [tag] + length + contents
    }

    static func sequence(_ contents: [UInt8]) -> [UInt8] { element(0x30, contents) }
    static func integer(_ magnitude: [UInt8]) -> [UInt8] { element(0x02, magnitude[0] & 0x80 != 0 ? [0] + magnitude : magnitude) }
}

/// Servers the CLI must refuse or cut off.
@Suite(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/openssl"), "openssl is not installed"))
struct HostileServerTests {
    /// The CLI's TLS 1.2 minimum was set on the context after the session existed, so it never applied. The client
    /// runs with an OpenSSL configuration that would allow TLS 1.1 (security level 0), so only Cachet's own minimum
    /// can refuse it.
    @Test("a server offering only TLS 1.1 is refused")
    func tls11() throws {
        let directory = try TemporaryDirectory()
        let openssl = try TestProcess.run(program: "openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                                                               "-keyout", directory.path("server.key"), "-out", directory.path("server.crt"),
                                                               "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"])
        #expect(openssl.status == 0, "\(openssl.error)")
        let keys = try GeneratedKeys()
        try FileManager.default.copyItem(atPath: keys.certificate, toPath: directory.path("tls.crt"))
        let lenient = directory.path("openssl.cnf")
        try Data("""
            openssl_conf = init
            [init]
            ssl_conf = ssl
            [ssl]
            system_default = defaults
            [defaults]
            MinProtocol = TLSv1
            CipherString = DEFAULT@SECLEVEL=0

            """.utf8).write(to: URL(fileURLWithPath: lenient))
        let server = try OpenSSLServer(arguments: ["-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0", "-WWW",
                                                   "-cert", directory.path("server.crt"), "-key", directory.path("server.key")],
                                       directory: directory.url, environment: ["OPENSSL_CONF": lenient])
        defer { server.stop() }
        var environment = ProcessInfo.processInfo.environment
        environment["OPENSSL_CONF"] = lenient
        let sealed = try CachetProcess.run(["seal", "--raw", "--scope", "cluster-wide", "--cert", "https://127.0.0.1:\(server.port)/tls.crt",
                                            "--cert-ca", directory.path("server.crt")],
                                           stdin: Data("v".utf8), environment: environment)
        #expect(sealed.status == 1, "TLS 1.1 was accepted: \(sealed.error)")
        #expect(sealed.error.contains("TLS failed"), "\(sealed.error)")
        #expect(sealed.error.split(separator: "\n").count == 1)
    }
}

/// `openssl s_server` on a free port of 127.0.0.1, until stopped.
final class OpenSSLServer {
    let port: Int
    private let process = Process()

    init(arguments: [String], directory: URL, environment: [String: String]) throws {
        guard let port = LoopbackSockets.freePort() else { throw CocoaError(.fileWriteUnknown) }
        self.port = port
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        process.arguments = ["s_server", "-accept", "127.0.0.1:\(port)", "-quiet"] + arguments
        process.currentDirectoryURL = directory
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        // Ready when it accepts a connection.
        for _ in 0..<100 {
            if LoopbackSockets.isListening(port) { return }
            Thread.sleep(forTimeInterval: 0.05)
        }
        throw CocoaError(.fileReadUnknown, userInfo: ["reason": "openssl s_server did not start"])
    }

    /// SIGKILL: children of the test process inherit its blocked signals, SIGTERM among them.
    func stop() {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }
}

/// Every input in Fuzz/corpus (seeds, and crashes found once and fixed) runs through its fuzz target in the plain
/// build: a regression of any of them fails the suite even where libFuzzer is not run.
struct FuzzCorpusReplayTests {
    static let replayer = CachetProcess.executable.deletingLastPathComponent().appendingPathComponent("cachet-fuzz")
    static let corpus = Repository.root.appendingPathComponent("Fuzz/corpus")

    @Test("the fuzz corpora replay cleanly", arguments: ["yaml", "json", "scalar", "base64", "der", "envelope", "http-response", "controller-body", "label-selector", "age", "kubeconfig", "rules"])
    func replay(target: String) throws {
        let directory = Self.corpus.appendingPathComponent(target)
        let inputs = try FileManager.default.contentsOfDirectory(atPath: directory.path)
        #expect(!inputs.isEmpty, "no seeds for \(target)")
        var environment = ProcessInfo.processInfo.environment
        environment["CACHET_FUZZ_KEY"] = Repository.root.appendingPathComponent("Fuzz/keys/tls.key").path
        let result = try CachetProcess.run([target, directory.path], environment: environment, executable: Self.replayer)
        #expect(result.status == 0, "\(result.error)")
        #expect(result.outputText.contains("\(inputs.count) inputs replayed"), "\(result.outputText)")
    }
}
