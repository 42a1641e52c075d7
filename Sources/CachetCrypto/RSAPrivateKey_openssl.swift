internal import COpenSSL

/// An RSA private key: what opens v1 values.
///
/// The key's secret numbers live in OpenSSL's secure heap (locked, excluded from core dumps, cleansed on free); the
/// PEM it is read from and written to is held in ``SecureBytes``. Nothing of the key appears in `description`.
public struct RSAPrivateKey: Sendable, CustomStringConvertible, CustomReflectable {
    let key: EVPKey
    /// The public half, e.g. to seal to or to name the key.
    public let publicKey: RSAPublicKey

    /// Key sizes `generate` offers: Bitnami's default 4096, and the two smaller sizes still considered safe.
    public static let generatableBits = [2048, 3072, 4096]

    init(taking key: EVPKey) throws {
        guard key.isRSA else {
            throw CachetCryptoError(.unsupportedKey, "the private key is \(key.typeName), but Cachet's v1 format needs an RSA key")
        }
        self.key = key
        self.publicKey = try RSAPublicKey(publicHalfOf: key)
    }

    /// Reads an unencrypted PEM private key: PKCS#1 (`RSA PRIVATE KEY`) or PKCS#8 (`PRIVATE KEY`).
    public init(pem: SecureBytes) throws {
        _ = CryptoLibraries.secureHeapReady
        let decoded = try pem.withUnsafeBytes { bytes in
            let labels = PEMLabels(bytes)
            if labels.hasEncryptedKey {
                throw CachetCryptoError(
                    .unsupportedKey, "the private key is encrypted with a passphrase; decrypt it first (openssl pkey -in FILE)")
            }
            guard let label = labels.first else {
                throw CachetCryptoError(.invalidKey, "no PEM block found (expected -----BEGIN RSA PRIVATE KEY-----)")
            }
            guard labels.isPrivateKey else {
                throw CachetCryptoError(.unsupportedKey, "expected a PEM private key, found \(label)")
            }
            return try decodeKey(bytes, selection: OSSL_KEYMGMT_SELECT_PRIVATE_KEY | OSSL_KEYMGMT_SELECT_PUBLIC_KEY,
                                 what: "private key")
        }
        try self.init(taking: decoded)
    }

    /// Generates a key with public exponent 65537. `bits` must be one of ``generatableBits``.
    public static func generate(bits: Int = 4096) throws -> RSAPrivateKey {
        guard generatableBits.contains(bits) else {
            throw CachetCryptoError(.unsupportedKey, "RSA key size \(bits) is not offered; use 2048, 3072 or 4096")
        }
        _ = CryptoLibraries.secureHeapReady
        guard let context = EVP_PKEY_CTX_new_from_name(nil, "RSA", nil) else {
            throw OpenSSLFailure.internalError("creating an RSA key generator")
        }
        defer { EVP_PKEY_CTX_free(context) }
        var pkey: OpaquePointer?
        guard EVP_PKEY_keygen_init(context) == 1,
              EVP_PKEY_CTX_set_rsa_keygen_bits(context, Int32(bits)) == 1,
              EVP_PKEY_generate(context, &pkey) == 1,
              let pkey
        else { throw OpenSSLFailure.internalError("generating an RSA key") }
        return try RSAPrivateKey(taking: EVPKey(taking: pkey))
    }

    /// Size of the modulus in bits.
    public var bits: Int { key.bits }

    /// The id of the public half.
    public var keyID: KeyID { publicKey.keyID }

    /// PEM PKCS#1 (`-----BEGIN RSA PRIVATE KEY-----`), the form Bitnami's key Secrets hold in `tls.key`.
    public func pkcs1PEM() throws -> SecureBytes {
        let bio = try MemoryBIO(secure: true)
        guard PEM_write_bio_PrivateKey_traditional(bio.pointer, key.pointer, nil, nil, 0, nil, nil) == 1 else {
            throw OpenSSLFailure.internalError("writing the private key")
        }
        return try bio.readAllSecurely()
    }

    /// The size and key id only: the description of a private key must be safe to log.
    public var description: String { "RSAPrivateKey(\(bits) bits, id \(keyID))" }
    /// No children: `dump` and debuggers show nothing of the key.
    public var customMirror: Mirror { Mirror(self, children: [], displayStyle: .struct) }

    /// RSA-OAEP decryption (SHA-256 and MGF1-SHA-256) with `label`; the plaintext is lent to `body` and wiped after.
    ///
    /// Every failure (wrong length, wrong key, wrong label, bad padding) throws the same ``CachetCryptoError/cannotOpen``
    /// and OpenSSL's reason is discarded: distinguishable padding errors are a decryption oracle.
    func withDecryptedOAEP<Result>(
        _ ciphertext: UnsafeRawBufferPointer, label: [UInt8], _ body: (UnsafeRawBufferPointer) throws -> Result
    ) throws -> Result {
        // Go's rsa.DecryptOAEP requires exactly k bytes; OpenSSL would also take a shorter integer. Be as strict as Go.
        let size = key.size
        guard ciphertext.count == size else { throw CachetCryptoError.cannotOpen }
        let context = try OAEPContext(key: key, mode: .decrypt, label: label)
        // OpenSSL wants room for k bytes even though OAEP releases at most k − 66. The buffer comes from the secure
        // heap (locked, no system calls, cleansed on free), and the plaintext is used in place: a SecureBytes per
        // session key would cost a guarded mapping of its own, whose unmapping stalls every core (TLB shootdown),
        // measurably slowing bulk opening. Should the heap ever be full, wiped stack space serves, as it does for the
        // session key when sealing: the bytes live for microseconds.
        guard let scratch = cachet_secure_scratch(size) else {
            OpenSSLFailure.discard()
            return try withWipedScratch(byteCount: size) { scratch in
                guard let base = scratch.baseAddress else { throw CachetCryptoError.cannotOpen }
                return try decryptOAEP(ciphertext, context: context, into: base, size: size, body)
            }
        }
        defer { cachet_secure_scratch_free(scratch, size) }
        return try decryptOAEP(ciphertext, context: context, into: scratch, size: size, body)
    }

    private func decryptOAEP<Result>(
        _ ciphertext: UnsafeRawBufferPointer, context: OAEPContext, into scratch: UnsafeMutableRawPointer, size: Int,
        _ body: (UnsafeRawBufferPointer) throws -> Result
    ) throws -> Result {
        var plaintextLength = size
        let status = EVP_PKEY_decrypt(context.pointer, scratch.assumingMemoryBound(to: UInt8.self), &plaintextLength,
                                      ciphertext.baseAddress?.assumingMemoryBound(to: UInt8.self), ciphertext.count)
        guard status == 1, plaintextLength <= size else {
            OpenSSLFailure.discard()
            throw CachetCryptoError.cannotOpen
        }
        return try body(UnsafeRawBufferPointer(start: scratch, count: plaintextLength))
    }
}
