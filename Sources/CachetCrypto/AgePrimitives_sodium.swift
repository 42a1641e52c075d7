internal import CSodium

// The primitives of format v2 (age), all from libsodium: X25519, HMAC-SHA-256, HKDF-SHA-256 (RFC 5869, built on
// libsodium's HMAC: Debian's libsodium 1.0.18 predates its HKDF API) and ChaCha20-Poly1305 (IETF, 12-byte nonce).
// Every derived key is written into caller-provided memory (wiped scratch or SecureBytes), never into an Array.

enum X25519 {
    static let keyByteCount = 32

    /// `X25519(secret, basepoint)`: the recipient of an identity, or the share of an ephemeral key.
    static func publicKey(of secret: UnsafeRawBufferPointer) -> [UInt8] {
        _ = CryptoLibraries.ready
        precondition(secret.count == keyByteCount)
        var result = [UInt8](repeating: 0, count: keyByteCount)
        _ = crypto_scalarmult_curve25519_base(&result, secret.cPointer)
        return result
    }

    /// Writes `X25519(secret, peer)` into `output`; false when the result is all zero. A low-order `peer` gives the
    /// all-zero secret whatever `secret` is, and age requires aborting then: otherwise an attacker who picks the
    /// share would know the wrapping key.
    static func sharedSecret(
        _ secret: UnsafeRawBufferPointer, _ peer: [UInt8], into output: UnsafeMutableRawBufferPointer
    ) -> Bool {
        _ = CryptoLibraries.ready
        precondition(secret.count == keyByteCount && peer.count == keyByteCount && output.count == keyByteCount)
        let status = crypto_scalarmult_curve25519(
            output.cPointer, secret.cPointer, peer)
        // libsodium already returns -1 for an all-zero result; the second test keeps the rule if that ever changes.
        return status == 0 && sodium_is_zero(output.baseAddress!.assumingMemoryBound(to: UInt8.self), keyByteCount) == 0
    }
}

enum HMACSHA256 {
    static let byteCount = 32

    /// HMAC-SHA-256 of the concatenation of `parts` under `key`, written into `output` (32 bytes).
    static func authenticate(
        key: UnsafeRawBufferPointer, _ parts: [UnsafeRawBufferPointer], into output: UnsafeMutableRawBufferPointer
    ) {
        _ = CryptoLibraries.ready
        precondition(output.count == byteCount)
        var state = crypto_auth_hmacsha256_state()
        defer { sodium_memzero(&state, MemoryLayout<crypto_auth_hmacsha256_state>.size) }
        crypto_auth_hmacsha256_init(&state, key.cPointer, key.count)
        for part in parts where part.count > 0 {
            crypto_auth_hmacsha256_update(&state, part.cPointer, UInt64(part.count))
        }
        crypto_auth_hmacsha256_final(&state, output.cPointer)
    }

    /// Compares two MACs in constant time.
    static func equal(_ left: UnsafeRawBufferPointer, _ right: UnsafeRawBufferPointer) -> Bool {
        left.count == right.count && left.count > 0 && sodium_memcmp(left.baseAddress!, right.baseAddress!, left.count) == 0
    }
}

enum HKDFSHA256 {
    /// HKDF-SHA-256 with a 32-byte output (one expand block), as age uses it everywhere: writes
    /// `HMAC(HMAC(salt, ikm), info ‖ 0x01)` into `output`. An empty salt is HMAC's all-zero key, as RFC 5869 says.
    static func derive(
        ikm: UnsafeRawBufferPointer, salt: UnsafeRawBufferPointer, info: String,
        into output: UnsafeMutableRawBufferPointer
    ) {
        withUnsafeTemporaryAllocation(byteCount: HMACSHA256.byteCount, alignment: 16) { pseudorandomKey in
            defer { sodium_memzero(pseudorandomKey.baseAddress, pseudorandomKey.count) }
            HMACSHA256.authenticate(key: salt, [ikm], into: pseudorandomKey)
            var info = Array(info.utf8)
            info.append(1)
            info.withUnsafeBytes { info in
                HMACSHA256.authenticate(key: UnsafeRawBufferPointer(pseudorandomKey), [info], into: output)
            }
        }
    }
}

enum ChaCha20Poly1305 {
    static let keyByteCount = 32
    static let nonceByteCount = 12
    static let tagByteCount = 16

    /// Encrypts `plaintext` and appends ciphertext and tag to `output`.
    static func seal(
        _ plaintext: UnsafeRawBufferPointer, key: UnsafeRawBufferPointer, nonce: [UInt8], appendingTo output: inout [UInt8]
    ) {
        _ = CryptoLibraries.ready
        precondition(key.count == keyByteCount && nonce.count == nonceByteCount)
        let start = output.count
        output.append(contentsOf: repeatElement(0, count: plaintext.count + tagByteCount))
        output.withUnsafeMutableBufferPointer { buffer in
            var written: UInt64 = 0
            _ = crypto_aead_chacha20poly1305_ietf_encrypt(
                buffer.baseAddress! + start, &written, plaintext.cPointer,
                UInt64(plaintext.count), nil, 0, nil, nonce, key.cPointer)
        }
    }

    /// Decrypts `ciphertext` (with its tag) into `output`, which holds exactly `ciphertext.count - 16` bytes;
    /// false, with `output` zeroed, if the tag does not verify.
    static func open(
        _ ciphertext: UnsafeRawBufferPointer, key: UnsafeRawBufferPointer, nonce: [UInt8],
        into output: UnsafeMutableRawBufferPointer
    ) -> Bool {
        _ = CryptoLibraries.ready
        precondition(key.count == keyByteCount && nonce.count == nonceByteCount)
        guard ciphertext.count >= tagByteCount, output.count == ciphertext.count - tagByteCount else { return false }
        var written: UInt64 = 0
        let status = crypto_aead_chacha20poly1305_ietf_decrypt(
            output.cPointer, &written, nil, ciphertext.cPointer, UInt64(ciphertext.count), nil, 0, nonce, key.cPointer)
        if status != 0, output.count > 0 { sodium_memzero(output.baseAddress, output.count) }
        return status == 0
    }
}

/// Zeroes memory that held a secret, in a way the compiler does not remove.
func wipe(_ buffer: UnsafeMutableRawBufferPointer) {
    if let address = buffer.baseAddress, buffer.count > 0 { sodium_memzero(address, buffer.count) }
}

/// One byte for C parameters declared non-null that may see an empty buffer (whose base address Swift leaves nil);
/// with a zero length nothing reads or writes it.
nonisolated(unsafe) private let emptyBufferStandIn = UnsafeMutablePointer<UInt8>.allocate(capacity: 1)

extension UnsafeRawBufferPointer {
    /// The bytes as libsodium's `const unsigned char *`, never nil.
    var cPointer: UnsafePointer<UInt8> {
        baseAddress?.assumingMemoryBound(to: UInt8.self) ?? UnsafePointer(emptyBufferStandIn)
    }
}

extension UnsafeMutableRawBufferPointer {
    /// The bytes as libsodium's `unsigned char *`, never nil.
    var cPointer: UnsafeMutablePointer<UInt8> {
        baseAddress?.assumingMemoryBound(to: UInt8.self) ?? emptyBufferStandIn
    }
}
