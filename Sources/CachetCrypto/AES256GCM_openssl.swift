import FoundationEssentials
internal import COpenSSL
internal import CSodium

/// AES-256-GCM with a 16-byte tag, the body cipher of v1 values.
enum AES256GCM {
    static let keyByteCount = 32
    static let tagByteCount = 16

    private final class CipherContext {
        let pointer: OpaquePointer
        init() throws {
            guard let context = EVP_CIPHER_CTX_new() else { throw OpenSSLFailure.internalError("creating a cipher context") }
            pointer = context
        }
        deinit { EVP_CIPHER_CTX_free(pointer) }
    }

    /// libsodium's AES-256-GCM needs AES-NI and PCLMULQDQ; it is checked once.
    static let sodiumAvailable: Bool = {
        _ = CryptoLibraries.ready
        return crypto_aead_aes256gcm_is_available() == 1
    }()

    /// Encrypts `plaintext`; returns ciphertext ‖ tag. With AES-NI, libsodium's implementation (no OpenSSL cipher
    /// fetch, which would set up OpenSSL's providers for one value); otherwise OpenSSL's. Both produce the same bytes
    /// (tested against each other and Wycheproof's vectors).
    static func seal(
        _ plaintext: UnsafeRawBufferPointer, key: some ContiguousBytes, nonce: [UInt8], aad: [UInt8] = []
    ) throws -> [UInt8] {
        precondition(key.withUnsafeBytes { $0.count } == keyByteCount, "AES-256 needs a 32-byte key")
        if sodiumAvailable, nonce.count == Int(crypto_aead_aes256gcm_NPUBBYTES) {
            return try sealWithSodium(plaintext, key: key, nonce: nonce, aad: aad)
        }
        return try sealWithOpenSSL(plaintext, key: key, nonce: nonce, aad: aad)
    }

    static func sealWithSodium(
        _ plaintext: UnsafeRawBufferPointer, key: some ContiguousBytes, nonce: [UInt8], aad: [UInt8]
    ) throws -> [UInt8] {
        guard UInt64(plaintext.count) <= UInt64(crypto_aead_aes256gcm_messagebytes_max()) else {
            throw CachetCryptoError(.malformedValue, "value too large to seal")
        }
        var output = [UInt8](repeating: 0, count: plaintext.count + tagByteCount)
        var written: UInt64 = 0
        let status = key.withUnsafeBytes { keyBytes in
            output.withUnsafeMutableBufferPointer { out in
                aad.withUnsafeBufferPointer { additional in
                    crypto_aead_aes256gcm_encrypt(
                        out.baseAddress!, &written, plaintext.baseAddress?.assumingMemoryBound(to: UInt8.self),
                        UInt64(plaintext.count), additional.baseAddress, UInt64(additional.count), nil, nonce,
                        keyBytes.baseAddress!.assumingMemoryBound(to: UInt8.self))
                }
            }
        }
        guard status == 0, written == UInt64(output.count) else { throw CachetCryptoError(.malformedValue, "AES-GCM encrypting failed") }
        return output
    }

    static func sealWithOpenSSL(
        _ plaintext: UnsafeRawBufferPointer, key: some ContiguousBytes, nonce: [UInt8], aad: [UInt8]
    ) throws -> [UInt8] {
        guard plaintext.count <= Int(Int32.max) - tagByteCount else {
            throw CachetCryptoError(.malformedValue, "value too large to seal")
        }
        let context = try CipherContext()
        try initialise(context.pointer, encrypt: true, key: key, nonce: nonce)
        var output = [UInt8](repeating: 0, count: plaintext.count + tagByteCount)
        var written: Int32 = 0
        let ok = output.withUnsafeMutableBytes { buffer -> Bool in
            let out = buffer.baseAddress!.assumingMemoryBound(to: UInt8.self)
            var unused: Int32 = 0
            if !aad.isEmpty {
                guard aad.withUnsafeBufferPointer({
                    EVP_EncryptUpdate(context.pointer, nil, &unused, $0.baseAddress, Int32($0.count))
                }) == 1 else { return false }
            }
            guard EVP_EncryptUpdate(context.pointer, out, &written,
                                    plaintext.baseAddress?.assumingMemoryBound(to: UInt8.self), Int32(plaintext.count)) == 1,
                  EVP_EncryptFinal_ex(context.pointer, out + Int(written), &unused) == 1,
                  EVP_CIPHER_CTX_ctrl(context.pointer, EVP_CTRL_GCM_GET_TAG, Int32(tagByteCount),
                                      out + plaintext.count) == 1
            else { return false }
            return true
        }
        guard ok else { throw OpenSSLFailure.internalError("AES-GCM encrypting") }
        return output
    }

    /// Authenticates and decrypts ciphertext ‖ tag. Releases nothing unless the tag verifies: OpenSSL writes
    /// plaintext before checking the tag, so on failure the buffer is dropped (and zeroed) unseen.
    static func open(
        _ sealed: UnsafeRawBufferPointer, key: some ContiguousBytes, nonce: [UInt8], aad: [UInt8] = []
    ) throws -> SecureBytes {
        precondition(key.withUnsafeBytes { $0.count } == keyByteCount, "AES-256 needs a 32-byte key")
        guard sealed.count >= tagByteCount, sealed.count <= Int(Int32.max) else { throw CachetCryptoError.cannotOpen }
        let context = try CipherContext()
        try initialise(context.pointer, encrypt: false, key: key, nonce: nonce)
        let bodyCount = sealed.count - tagByteCount
        let plaintext = try SecureBytes(count: bodyCount)
        let input = sealed.baseAddress!.assumingMemoryBound(to: UInt8.self)
        let ok = plaintext.withUnsafeMutableBytes { buffer -> Bool in
            let out = buffer.baseAddress!.assumingMemoryBound(to: UInt8.self)
            var written: Int32 = 0
            var unused: Int32 = 0
            if !aad.isEmpty {
                guard aad.withUnsafeBufferPointer({
                    EVP_DecryptUpdate(context.pointer, nil, &unused, $0.baseAddress, Int32($0.count))
                }) == 1 else { return false }
            }
            // The tag is copied out because the ctrl call takes a mutable pointer.
            var tag = Array(UnsafeRawBufferPointer(rebasing: sealed[bodyCount...]))
            guard EVP_DecryptUpdate(context.pointer, out, &written, input, Int32(bodyCount)) == 1,
                  EVP_CIPHER_CTX_ctrl(context.pointer, EVP_CTRL_GCM_SET_TAG, Int32(tagByteCount), &tag) == 1,
                  EVP_DecryptFinal_ex(context.pointer, out + Int(written), &unused) == 1
            else { return false }
            return true
        }
        guard ok else {
            OpenSSLFailure.discard()
            throw CachetCryptoError.cannotOpen
        }
        return plaintext
    }

    private static func initialise(
        _ context: OpaquePointer, encrypt: Bool, key: some ContiguousBytes, nonce: [UInt8]
    ) throws {
        let cipherInit = encrypt ? EVP_EncryptInit_ex : EVP_DecryptInit_ex
        let ok = key.withUnsafeBytes { keyBytes in
            nonce.withUnsafeBufferPointer { nonceBytes in
                cipherInit(context, EVP_aes_256_gcm(), nil, nil, nil) == 1
                    && EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_GCM_SET_IVLEN, Int32(nonce.count), nil) == 1
                    && cipherInit(context, nil, nil, keyBytes.baseAddress?.assumingMemoryBound(to: UInt8.self),
                                  nonceBytes.baseAddress) == 1
            }
        }
        guard ok else { throw OpenSSLFailure.internalError("initialising AES-GCM") }
    }
}
