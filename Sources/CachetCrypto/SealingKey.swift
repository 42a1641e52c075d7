import FoundationEssentials

/// The public key a sealer uses, read from what a user hands to `--cert`: a certificate (as the controller serves
/// at `/v1/cert.pem`) or a bare public key.
public struct SealingKey: Sendable {
    /// The key values are sealed to.
    public let publicKey: RSAPublicKey
    /// The certificate it came from, if it came from one.
    public let certificate: Certificate?

    /// Reads a PEM certificate or public key and checks that it may be sealed to at `date`: RSA, at least 2048 bits,
    /// and, for a certificate, within its validity period. A private key is refused: sealing needs only the public
    /// half, and handing private keys to the sealing side is a mistake worth stopping.
    public init(pem: some ContiguousBytes, at date: Date = Date()) throws {
        let labels = pem.withUnsafeBytes { PEMLabels($0) }
        if labels.isPrivateKey {
            throw CachetCryptoError(
                .unsupportedKey, "this is a private key; sealing needs only the certificate (tls.crt)")
        }
        if labels.labels.contains("CERTIFICATE") {
            let certificate = try Certificate(pem: pem)
            try certificate.checkValidity(at: date)
            self.certificate = certificate
            self.publicKey = certificate.publicKey
        } else {
            self.certificate = nil
            self.publicKey = try RSAPublicKey(pem: pem)
        }
        try publicKey.checkSealingStrength()
    }

    /// A certificate already read and trusted: the controller's own newest key. Its validity period is not checked,
    /// since the controller seals (`/v1/rotate`) with its newest key whatever its age, as Bitnami's does.
    public init(certificate: Certificate) throws {
        self.certificate = certificate
        self.publicKey = certificate.publicKey
        try publicKey.checkSealingStrength()
    }

    public var keyID: KeyID { publicKey.keyID }
}
