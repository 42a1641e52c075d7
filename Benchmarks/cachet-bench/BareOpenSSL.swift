import CachetCrypto
import COpenSSL

/// The baseline the v1 budget is measured against: OpenSSL's RSA-OAEP (SHA-256, MGF1-SHA-256) with nothing of
/// Cachet around it. It reads the key from its PEM with OpenSSL itself and drives `EVP_PKEY_decrypt` directly, so
/// that it shares no code with the crypto core it is the yardstick for.
final class BareOpenSSL: @unchecked Sendable {  // the EVP_PKEY is only read after init; each call has its own context
    private let key: OpaquePointer

    init(key: RSAPrivateKey) throws {
        let pem = try key.pkcs1PEM()
        let parsed: OpaquePointer? = pem.withUnsafeBytes { bytes in
            guard let bio = BIO_new_mem_buf(bytes.baseAddress, Int32(bytes.count)) else { return nil }
            defer { BIO_free(bio) }
            return PEM_read_bio_PrivateKey(bio, nil, nil, nil)
        }
        guard let parsed else { throw BenchmarkFailure("OpenSSL could not read the benchmark key") }
        self.key = parsed
    }

    deinit {
        EVP_PKEY_free(key)
    }

    /// Runs `iterations` OAEP decryptions of `ciphertext` (set-up once, outside the loop); the caller times the call.
    func decrypt(_ ciphertext: [UInt8], label: [UInt8], iterations: Int) throws {
        try run(ciphertext, label: label, iterations: iterations, decrypting: true)
    }

    /// Runs `iterations` OAEP encryptions of `message`; the caller times the call.
    func encrypt(_ message: [UInt8], label: [UInt8], iterations: Int) throws {
        try run(message, label: label, iterations: iterations, decrypting: false)
    }

    /// The OAEP ciphertext inside a v1 envelope (bytes 2 ..< 2 + k), to time the bare operation on the same input.
    static func wrappedKey(of envelope: [UInt8]) throws -> [UInt8] {
        Array(envelope[2..<2 + (try EnvelopeV1.wrappedKeyLength(of: envelope))])
    }

    private func run(_ input: [UInt8], label: [UInt8], iterations: Int, decrypting: Bool) throws {
        guard let context = EVP_PKEY_CTX_new_from_pkey(nil, key, nil) else { throw BenchmarkFailure("EVP_PKEY_CTX_new_from_pkey") }
        defer { EVP_PKEY_CTX_free(context) }
        guard (decrypting ? EVP_PKEY_decrypt_init(context) : EVP_PKEY_encrypt_init(context)) == 1,
              EVP_PKEY_CTX_set_rsa_padding(context, RSA_PKCS1_OAEP_PADDING) == 1,
              EVP_PKEY_CTX_set_rsa_oaep_md(context, EVP_sha256()) == 1,
              EVP_PKEY_CTX_set_rsa_mgf1_md(context, EVP_sha256()) == 1
        else { throw BenchmarkFailure("configuring RSA-OAEP") }
        // set0 owns the label on success, so it comes from OpenSSL's allocator.
        guard let copy = cachet_openssl_malloc(max(label.count, 1)) else { throw BenchmarkFailure("OPENSSL_malloc") }
        label.withUnsafeBytes { if let base = $0.baseAddress { copy.copyMemory(from: base, byteCount: label.count) } }
        guard EVP_PKEY_CTX_set0_rsa_oaep_label(context, copy, Int32(label.count)) == 1 else {
            cachet_openssl_free(copy)
            throw BenchmarkFailure("setting the OAEP label")
        }
        var output = [UInt8](repeating: 0, count: Int(EVP_PKEY_get_size(key)))
        for _ in 0..<iterations {
            var length = output.count
            let status = output.withUnsafeMutableBufferPointer { out in
                input.withUnsafeBufferPointer { input in
                    decrypting ? EVP_PKEY_decrypt(context, out.baseAddress, &length, input.baseAddress, input.count)
                        : EVP_PKEY_encrypt(context, out.baseAddress, &length, input.baseAddress, input.count)
                }
            }
            guard status == 1 else { throw BenchmarkFailure("the bare RSA-OAEP operation failed") }
        }
    }
}
