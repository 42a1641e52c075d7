#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import CachetCrypto
import CachetManifests
import CachetProgram
import FoundationEssentials

/// `cachet keys generate --out DIR`: a new RSA key pair with a Bitnami-style certificate, and an age identity.
struct KeysGenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Generate keys: DIR/tls.key and DIR/age-identity.txt (private, mode 0600), DIR/tls.crt and DIR/age-recipients.txt.",
        discussion: """
            The certificate has Bitnami's fields (empty subject, KeyUsage encipherOnly, CA:TRUE), so the pair can be \
            loaded into a cluster as a sealed-secrets key Secret. The age identity (format v2) is in age's own text \
            forms, as age-keygen writes them: `age -d -i DIR/age-identity.txt` opens v2 values, and \
            DIR/age-recipients.txt is what `cachet seal --recipients-file` and `age -R` take. Existing files are never \
            overwritten.
            """
    )

    @Option(help: "The directory to write the key files into (created, mode 0700, if missing).")
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
        let identityPath = SecretFiles.join(out, KeyRing.ageIdentityItem)
        let recipientsPath = SecretFiles.join(out, KeyRing.ageRecipientsItem)
        // Check before the (slow) generation; createExclusively checks again, atomically.
        for path in [keyPath, certificatePath, identityPath, recipientsPath] where SecretFiles.exists(path) {
            throw CommandFailure("\(path) already exists; cachet never overwrites a key file",
                                 hint: "choose another --out directory, or move the old key away first")
        }
        try createDirectory(out)

        let key = try RSAPrivateKey.generate(bits: rsaBits)
        let certificate = try Certificate.selfSigned(for: key, validity: TimeInterval(validityDays) * 24 * 3600)
        let identity = try AgeIdentity.generate()
        let files: [(path: String, contents: SecureBytes, mode: mode_t)] = [
            (keyPath, try key.pkcs1PEM(), 0o600),
            (certificatePath, try SecureBytes(copying: Array(try certificate.pem.utf8)), 0o644),
            (identityPath, try identity.fileContents(created: Date().formatted(.iso8601)), 0o600),
            (recipientsPath, try SecureBytes(copying: Array("\(identity.recipient)\n".utf8)), 0o644),
        ]
        var written: [String] = []
        do {
            for file in files {
                try file.contents.withUnsafeBytes { bytes throws in
                    try KeyFiles.createExclusively(file.path, contents: bytes, mode: file.mode)
                }
                written.append(file.path)
            }
        } catch {
            // All or nothing: no private key without its public half.
            for path in written { unlink(path) }
            throw error
        }
        StandardError.write(
            "cachet: wrote \(keyPath) and \(certificatePath): RSA-\(rsaBits), key id \(key.keyID), valid until \(certificate.notAfter.formatted(.iso8601))")
        StandardError.write(
            "cachet: wrote \(identityPath) and \(recipientsPath): X25519, key id \(identity.keyID), recipient \(identity.recipient)")
    }

    private func createDirectory(_ path: String) throws {
        if SecretFiles.isDirectory(path) { return }
        guard mkdir(path, 0o700) == 0 || errno == EEXIST else {
            throw CommandFailure("cannot create directory \(path): \(String(cString: strerror(errno)))")
        }
    }
}
