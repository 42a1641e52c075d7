import FoundationEssentials

/// The public key a sealer uses, read from what a user hands to `--cert`: a certificate (as the controller serves
/// at `/v1/cert.pem`) or a bare public key.
public struct SealingKey: Sendable {
    /// The key values are sealed to.
    public let publicKey: RSAPublicKey
    /// The validity period of the certificate it came from, if it came from one.
    public let notBefore: Date?
    /// The end of the certificate's validity period (nil for a bare public key).
    public let notAfter: Date?

    /// Reads a PEM certificate or public key and checks that it may be sealed to at `date`: RSA, at least 2048 bits,
    /// and, for a certificate, within its validity period. A private key is refused: sealing needs only the public
    /// half, and handing private keys to the sealing side is a mistake worth stopping.
    ///
    /// The certificate is read by Cachet's own DER reader (the first `CERTIFICATE` block, as Bitnami does), not
    /// OpenSSL's: see ``DER``.
    public init(pem: some ContiguousBytes, at date: Date = Date()) throws {
        let labels = pem.withUnsafeBytes { PEMLabels($0) }
        if labels.isPrivateKey {
            throw CachetCryptoError(
                .unsupportedKey, "this is a private key; sealing needs only the certificate (tls.crt)")
        }
        if labels.labels.contains("CERTIFICATE") {
            let fields = try pem.withUnsafeBytes { bytes throws -> CertificateFields in
                do {
                    guard let der = try pemBlock("CERTIFICATE", in: bytes) else { throw DER.Malformed(reason: "no end line") }
                    return try CertificateFields(der: der[...])
                } catch let error as CachetCryptoError {
                    throw error
                } catch {
                    throw CachetCryptoError(.invalidKey, "the certificate could not be decoded (damaged or not a certificate)")
                }
            }
            try Self.checkValidity(notBefore: fields.notBefore, notAfter: fields.notAfter, at: date)
            self.publicKey = RSAPublicKey(numbers: fields.publicKey)
            self.notBefore = fields.notBefore
            self.notAfter = fields.notAfter
        } else {
            self.publicKey = try RSAPublicKey(pem: pem)
            self.notBefore = nil
            self.notAfter = nil
        }
        try publicKey.checkSealingStrength()
    }

    /// A certificate already read and trusted: the controller's own newest key. Its validity period is not checked,
    /// since the controller seals (`/v1/rotate`) with its newest key whatever its age, as Bitnami's does.
    public init(certificate: Certificate) throws {
        self.publicKey = certificate.publicKey
        self.notBefore = certificate.notBefore
        self.notAfter = certificate.notAfter
        try publicKey.checkSealingStrength()
    }

    /// The id of the key sealed to (docs/wire-format.md §3).
    public var keyID: KeyID { publicKey.keyID }

    /// Throws unless `date` lies within the validity period. Sealing to an expired certificate would produce values
    /// the cluster may already have stopped being able to open; kubeseal refuses it too.
    static func checkValidity(notBefore: Date, notAfter: Date, at date: Date) throws {
        if date < notBefore {
            throw CachetCryptoError(
                .certificateNotValid, "the certificate is not valid before \(notBefore.formatted(.iso8601))")
        }
        if date > notAfter {
            throw CachetCryptoError(.certificateNotValid, "the certificate expired at \(notAfter.formatted(.iso8601))")
        }
    }
}
