import FoundationEssentials

internal import COpenSSL

/// An RSA public key: what a sealer needs. It holds no private material.
///
/// It is kept as numbers (n, e), read and encrypted to without OpenSSL's provider machinery: OAEP is encoded here
/// (RFC 8017 §7.1.1, SHA-256 and MGF1-SHA-256 from libsodium) and the RSA operation is OpenSSL's `BN_mod_exp`. That
/// keeps `cachet seal`'s start-up free of OpenSSL's decoder and provider set-up, which cost more than the rest of
/// the run. Opening (OpenSSL's EVP RSA-OAEP) checks every value sealed this way in the tests.
public struct RSAPublicKey: Sendable, CustomStringConvertible {
    let numbers: RSAPublicNumbers
    private let operation: RSAPublicOperation
    /// The key's id (docs/wire-format.md §3).
    public let keyID: KeyID
    /// DER SubjectPublicKeyInfo: the bytes inside `-----BEGIN PUBLIC KEY-----`, in OpenSSL's canonical form.
    public let subjectPublicKeyInfo: [UInt8]

    /// The smallest modulus Cachet seals to. Below 2048 bits RSA is within reach of well-funded factoring.
    public static let minimumSealingBits = 2048

    init(numbers: RSAPublicNumbers) {
        _ = CryptoLibraries.ready
        self.numbers = numbers
        self.operation = RSAPublicOperation(numbers: numbers)
        self.subjectPublicKeyInfo = numbers.subjectPublicKeyInfo
        self.keyID = KeyID(subjectPublicKeyInfo: subjectPublicKeyInfo)
    }

    /// The public half of an OpenSSL key (a private key, or a certificate's key).
    init(publicHalfOf key: EVPKey) throws {
        guard key.isRSA else {
            throw CachetCryptoError(.unsupportedKey, "the key is \(key.typeName), but Cachet's v1 format needs an RSA key")
        }
        let der = try key.subjectPublicKeyInfoDER()
        do {
            self.init(numbers: try RSAPublicNumbers(subjectPublicKeyInfo: der[...]))
        } catch let error as CachetCryptoError {
            throw error
        } catch {
            throw OpenSSLFailure.internalError("reading back an RSA public key")
        }
    }

    /// Reads a PEM public key: `PUBLIC KEY` (SubjectPublicKeyInfo) or `RSA PUBLIC KEY` (PKCS#1).
    public init(pem: some ContiguousBytes) throws {
        let numbers = try pem.withUnsafeBytes { bytes throws -> RSAPublicNumbers in
            let labels = PEMLabels(bytes)
            guard let label = labels.first else {
                throw CachetCryptoError(.invalidKey, "no PEM block found (expected -----BEGIN PUBLIC KEY-----)")
            }
            guard label == "PUBLIC KEY" || label == "RSA PUBLIC KEY" else {
                throw CachetCryptoError(.unsupportedKey, "expected a PEM public key, found \(label)")
            }
            do {
                guard let der = try pemBlock(label, in: bytes) else { throw DER.Malformed(reason: "no end line") }
                return label == "PUBLIC KEY" ? try RSAPublicNumbers(subjectPublicKeyInfo: der[...]) : try RSAPublicNumbers(pkcs1: der[...])
            } catch let error as CachetCryptoError {
                throw error
            } catch {
                throw CachetCryptoError(.invalidKey, "the public key PEM could not be decoded (damaged or not a key)")
            }
        }
        self.init(numbers: numbers)
    }

    /// The key as an OpenSSL object, for the benchmark's bare baseline. Made on each call.
    var evpKey: EVPKey {
        get throws { try EVPKey.publicOnly(fromSubjectPublicKeyInfo: subjectPublicKeyInfo) }
    }

    /// Size of the modulus in bits.
    public var bits: Int { numbers.bits }

    /// Size of the modulus in bytes (k): the length of every RSA ciphertext under this key.
    public var modulusByteCount: Int { numbers.modulus.count }

    /// PEM `PUBLIC KEY`.
    public var pem: String { pemText("PUBLIC KEY", subjectPublicKeyInfo) }

    /// The size and key id.
    public var description: String { "RSAPublicKey(\(bits) bits, id \(keyID))" }

    /// Refuses keys too weak to seal to.
    func checkSealingStrength() throws {
        guard bits >= Self.minimumSealingBits else {
            throw CachetCryptoError(
                .unsupportedKey,
                "the RSA key has \(bits) bits; Cachet refuses to seal to keys below \(Self.minimumSealingBits) bits")
        }
    }

    /// RSA-OAEP encryption, SHA-256 for both the hash and MGF1, with `label` (RFC 8017 §7.1.1). Returns exactly k
    /// bytes.
    func encryptOAEP(_ message: UnsafeRawBufferPointer, label: [UInt8]) throws -> [UInt8] {
        let k = modulusByteCount, hashLength = SHA256.byteCount
        guard message.count <= k - 2 * hashLength - 2 else { throw OpenSSLFailure.internalError("RSA-OAEP: message too long") }
        // EM = 0x00 ‖ maskedSeed ‖ maskedDB. It holds the message in the clear until masked (and the masked form is
        // as good as clear to whoever has the seed), so it lives in scratch space wiped on return.
        return try withWipedScratch(byteCount: k) { em in
            let seed = UnsafeMutableRawBufferPointer(rebasing: em[1...hashLength])
            let db = UnsafeMutableRawBufferPointer(rebasing: em[(1 + hashLength)...])
            // DB = lHash ‖ PS (zeros) ‖ 0x01 ‖ M
            SHA256.hash(label).withUnsafeBytes { db.copyMemory(from: $0) }
            db[db.count - message.count - 1] = 0x01
            if message.count > 0 {
                UnsafeMutableRawBufferPointer(rebasing: db[(db.count - message.count)...]).copyMemory(from: message)
            }
            SystemRandom.fill(seed)
            SHA256.maskMGF1(db, seed: UnsafeRawBufferPointer(seed))
            SHA256.maskMGF1(seed, seed: UnsafeRawBufferPointer(db))
            return try operation.apply(em: UnsafeRawBufferPointer(em))
        }
    }
}

/// `c = m^e mod n` with OpenSSL's BIGNUMs: the raw public operation under the OAEP encoding above. No provider is
/// involved (the `BN_` functions are plain arithmetic).
///
/// n, e and n's Montgomery context are made once per key: setting up the context costs about as much as the
/// exponentiation with e = 65537, so a key that seals many values pays for it once. They are written only here and
/// afterwards only read (`BN_mod_exp_mont` reads a given context without changing it; OpenSSL's own RSA code shares
/// one across threads the same way), which is why sharing the object between threads is safe.
final class RSAPublicOperation: @unchecked Sendable {
    private let n: OpaquePointer?
    private let e: OpaquePointer?
    private let montgomery: OpaquePointer?
    private let byteCount: Int

    init(numbers: RSAPublicNumbers) {
        byteCount = numbers.modulus.count
        n = numbers.modulus.withUnsafeBufferPointer { BN_bin2bn($0.baseAddress, Int32($0.count), nil) }
        e = numbers.exponent.withUnsafeBufferPointer { BN_bin2bn($0.baseAddress, Int32($0.count), nil) }
        // Anything that cannot be made (allocation failure) is left nil, for `apply` to report.
        var montgomery = BN_MONT_CTX_new()
        let context = BN_CTX_new()
        if montgomery == nil || context == nil || n == nil || BN_MONT_CTX_set(montgomery, n, context) != 1 {
            BN_MONT_CTX_free(montgomery)
            montgomery = nil
        }
        BN_CTX_free(context)
        self.montgomery = montgomery
    }

    deinit {
        BN_free(n)
        BN_free(e)
        BN_MONT_CTX_free(montgomery)
    }

    /// The k-byte big-endian result for the k-byte encoded message `em`. The BIGNUM holding `em` is cleared when
    /// freed: it is the message as good as in the clear.
    func apply(em: UnsafeRawBufferPointer) throws -> [UInt8] {
        guard let context = BN_CTX_new() else { throw OpenSSLFailure.internalError("allocating a BIGNUM context") }
        defer { BN_CTX_free(context) }
        let m = BN_bin2bn(em.baseAddress?.assumingMemoryBound(to: UInt8.self), Int32(em.count), nil)
        let c = BN_new()
        defer {
            BN_clear_free(m)
            BN_free(c)
        }
        // m < n always holds: EM's first byte is zero and n has exactly k bytes.
        guard let n, let e, let montgomery, let m, let c, BN_cmp(m, n) < 0,
              BN_mod_exp_mont(c, m, e, n, context, montgomery) == 1
        else {
            throw OpenSSLFailure.internalError("the RSA public operation")
        }
        var output = [UInt8](repeating: 0, count: byteCount)
        let written = output.withUnsafeMutableBufferPointer { BN_bn2binpad(c, $0.baseAddress, Int32(byteCount)) }
        guard written == Int32(byteCount) else { throw OpenSSLFailure.internalError("encoding the RSA result") }
        return output
    }
}

/// Decodes a PEM key with OpenSSL's decoder (PKCS#1, PKCS#8, SubjectPublicKeyInfo). No passphrase callback is
/// installed, so an encrypted key fails instead of prompting on a terminal.
func decodeKey(_ pem: UnsafeRawBufferPointer, selection: Int32, what: String) throws -> EVPKey {
    var pkey: OpaquePointer?
    guard let decoder = OSSL_DECODER_CTX_new_for_pkey(&pkey, "PEM", nil, nil, selection, nil, nil) else {
        throw OpenSSLFailure.internalError("setting up a key decoder")
    }
    defer { OSSL_DECODER_CTX_free(decoder) }
    var cursor = pem.baseAddress?.assumingMemoryBound(to: UInt8.self)
    var remaining = pem.count
    let status = OSSL_DECODER_from_data(decoder, &cursor, &remaining)
    guard status == 1, let pkey else {
        // Decoder reasons for private keys may quote structure but never key bytes; still, keep the message generic.
        OpenSSLFailure.discard()
        throw CachetCryptoError(.invalidKey, "the \(what) PEM could not be decoded (damaged or not a key)")
    }
    return EVPKey(taking: pkey)
}

/// An `EVP_PKEY_CTX` set up for RSA-OAEP with SHA-256/MGF1-SHA-256 and a label: the one place that parameter set
/// is spelled out, for sealing, opening and the benchmark.
final class OAEPContext {
    enum Mode { case encrypt, decrypt }

    let pointer: OpaquePointer

    init(key: EVPKey, mode: Mode, label: [UInt8]) throws {
        guard let context = EVP_PKEY_CTX_new_from_pkey(nil, key.pointer, nil) else {
            throw OpenSSLFailure.internalError("creating an RSA context")
        }
        let initialised = mode == .encrypt ? EVP_PKEY_encrypt_init(context) : EVP_PKEY_decrypt_init(context)
        guard initialised == 1,
              EVP_PKEY_CTX_set_rsa_padding(context, RSA_PKCS1_OAEP_PADDING) == 1,
              EVP_PKEY_CTX_set_rsa_oaep_md(context, EVP_sha256()) == 1,
              EVP_PKEY_CTX_set_rsa_mgf1_md(context, EVP_sha256()) == 1
        else {
            EVP_PKEY_CTX_free(context)
            throw OpenSSLFailure.internalError("configuring RSA-OAEP")
        }
        if !label.isEmpty {
            // set0 takes ownership of the buffer on success, so it must come from OpenSSL's allocator; on failure
            // it is still ours to free. (An empty label is OAEP's default and needs no call.)
            guard let copy = cachet_openssl_malloc(label.count) else {
                EVP_PKEY_CTX_free(context)
                throw OpenSSLFailure.internalError("allocating the OAEP label")
            }
            label.withUnsafeBytes { copy.copyMemory(from: $0.baseAddress!, byteCount: label.count) }
            guard EVP_PKEY_CTX_set0_rsa_oaep_label(context, copy, Int32(label.count)) == 1 else {
                cachet_openssl_free(copy)
                EVP_PKEY_CTX_free(context)
                throw OpenSSLFailure.internalError("setting the OAEP label")
            }
        }
        self.pointer = context
    }

    deinit {
        EVP_PKEY_CTX_free(pointer)
    }
}
