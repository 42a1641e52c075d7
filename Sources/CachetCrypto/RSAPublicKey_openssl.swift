import FoundationEssentials

import COpenSSL

/// An RSA public key: what a sealer needs. It holds no private material.
public struct RSAPublicKey: Sendable, CustomStringConvertible {
    let key: EVPKey
    /// The key's id (docs/wire-format.md §3).
    public let keyID: KeyID
    /// DER SubjectPublicKeyInfo: the bytes inside `-----BEGIN PUBLIC KEY-----`.
    public let subjectPublicKeyInfo: [UInt8]

    /// The smallest modulus Cachet seals to. Below 2048 bits RSA is within reach of well-funded factoring.
    public static let minimumSealingBits = 2048

    /// Wraps an RSA key, keeping only its public half.
    init(publicHalfOf key: EVPKey) throws {
        guard key.isRSA else {
            throw CachetCryptoError(.unsupportedKey, "the key is \(key.typeName), but Cachet's v1 format needs an RSA key")
        }
        let der = try key.subjectPublicKeyInfoDER()
        self.key = try EVPKey.publicOnly(fromSubjectPublicKeyInfo: der)
        self.subjectPublicKeyInfo = der
        self.keyID = KeyID(subjectPublicKeyInfo: der)
    }

    /// Reads a PEM public key: `PUBLIC KEY` (SubjectPublicKeyInfo) or `RSA PUBLIC KEY` (PKCS#1).
    public init(pem: some ContiguousBytes) throws {
        _ = CryptoLibraries.ready
        let decoded = try pem.withUnsafeBytes { bytes in
            let labels = PEMLabels(bytes)
            guard let label = labels.first else {
                throw CachetCryptoError(.invalidKey, "no PEM block found (expected -----BEGIN PUBLIC KEY-----)")
            }
            guard label == "PUBLIC KEY" || label == "RSA PUBLIC KEY" else {
                throw CachetCryptoError(.unsupportedKey, "expected a PEM public key, found \(label)")
            }
            return try decodeKey(bytes, selection: OSSL_KEYMGMT_SELECT_PUBLIC_KEY, what: "public key")
        }
        try self.init(publicHalfOf: decoded)
    }

    /// Size of the modulus in bits.
    public var bits: Int { key.bits }

    /// Size of the modulus in bytes (k): the length of every RSA ciphertext under this key.
    public var modulusByteCount: Int { key.size }

    /// PEM `PUBLIC KEY`.
    public var pem: String {
        let body = Base64.encode(subjectPublicKeyInfo)
        var lines = ["-----BEGIN PUBLIC KEY-----"]
        var start = body.startIndex
        while start < body.endIndex {
            let end = body.index(start, offsetBy: 64, limitedBy: body.endIndex) ?? body.endIndex
            lines.append(String(body[start..<end]))
            start = end
        }
        lines.append("-----END PUBLIC KEY-----")
        return lines.joined(separator: "\n") + "\n"
    }

    public var description: String { "RSAPublicKey(\(bits) bits, id \(keyID))" }

    /// Refuses keys too weak to seal to.
    func checkSealingStrength() throws {
        guard bits >= Self.minimumSealingBits else {
            throw CachetCryptoError(
                .unsupportedKey,
                "the RSA key has \(bits) bits; Cachet refuses to seal to keys below \(Self.minimumSealingBits) bits")
        }
    }

    /// RSA-OAEP encryption, SHA-256 for both the hash and MGF1, with `label`. Returns exactly k bytes.
    func encryptOAEP(_ message: UnsafeRawBufferPointer, label: [UInt8]) throws -> [UInt8] {
        let context = try OAEPContext(key: key, mode: .encrypt, label: label)
        var output = [UInt8](repeating: 0, count: modulusByteCount)
        var outputLength = output.count
        let status = output.withUnsafeMutableBufferPointer { buffer in
            EVP_PKEY_encrypt(context.pointer, buffer.baseAddress, &outputLength,
                             message.baseAddress?.assumingMemoryBound(to: UInt8.self), message.count)
        }
        // OpenSSL pads the RSA result to k bytes; anything else would break the length prefix.
        guard status == 1, outputLength == modulusByteCount else {
            throw OpenSSLFailure.internalError("RSA-OAEP encrypting")
        }
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
