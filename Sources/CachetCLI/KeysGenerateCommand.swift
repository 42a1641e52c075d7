#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import CachetCrypto
import CachetManifests
import CachetProgram
import FoundationEssentials

/// `cachet keys generate --out DIR`: a new RSA key pair with a Bitnami-style certificate.
struct KeysGenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Generate a key pair: DIR/tls.key (private, mode 0600) and DIR/tls.crt.",
        discussion: """
            The certificate has Bitnami's fields (empty subject, KeyUsage encipherOnly, CA:TRUE), so the pair can be \
            loaded into a cluster as a sealed-secrets key Secret. Existing files are never overwritten.
            """
    )

    @Option(help: "The directory to write tls.key and tls.crt into (created, mode 0700, if missing).")
    var out: String

    @Option(name: .customLong("rsa-bits"), help: "RSA key size: 2048, 3072 or 4096.")
    var rsaBits: Int = 4096

    @Option(name: .customLong("validity-days"), help: "How long the certificate is valid, in days.")
    var validityDays: Int = 3650

    func validate() throws {
        guard RSAPrivateKey.generatableBits.contains(rsaBits) else {
            throw ValidationError("--rsa-bits must be 2048, 3072 or 4096, not \(rsaBits)")
        }
        guard validityDays > 0 else { throw ValidationError("--validity-days must be positive") }
    }

    func run() throws {
        let keyPath = SecretFiles.join(out, KeyFiles.privateKeyFileName)
        let certificatePath = SecretFiles.join(out, KeyFiles.certificateFileName)
        // Check before the (slow) generation; createExclusively checks again, atomically.
        for path in [keyPath, certificatePath] where SecretFiles.exists(path) {
            throw CommandFailure("\(path) already exists; cachet never overwrites a key file",
                                 hint: "choose another --out directory, or move the old key away first")
        }
        try createDirectory(out)

        let key = try RSAPrivateKey.generate(bits: rsaBits)
        let certificate = try Certificate.selfSigned(for: key, validity: TimeInterval(validityDays) * 24 * 3600)
        let keyPEM = try key.pkcs1PEM()
        let certificatePEM = Array(try certificate.pem.utf8)

        try keyPEM.withUnsafeBytes { bytes throws in
            try KeyFiles.createExclusively(keyPath, contents: bytes, mode: 0o600)
        }
        do {
            try certificatePEM.withUnsafeBytes { bytes throws in
                try KeyFiles.createExclusively(certificatePath, contents: bytes, mode: 0o644)
            }
        } catch {
            // Leave no private key without its certificate.
            unlink(keyPath)
            throw error
        }
        StandardError.write(
            "cachet: wrote \(keyPath) and \(certificatePath): RSA-\(rsaBits), key id \(key.keyID), valid until \(certificate.notAfter.formatted(.iso8601))")
    }

    private func createDirectory(_ path: String) throws {
        if SecretFiles.isDirectory(path) { return }
        guard mkdir(path, 0o700) == 0 || errno == EEXIST else {
            throw CommandFailure("cannot create directory \(path): \(String(cString: strerror(errno)))")
        }
    }
}
