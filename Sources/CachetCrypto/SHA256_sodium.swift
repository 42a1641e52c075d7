internal import CSodium

/// SHA-256 from libsodium: key ids, and OAEP's label hash and MGF1 when sealing. (libsodium rather than OpenSSL's
/// EVP digests, whose first use sets up OpenSSL's providers: more work than sealing a Secret.)
enum SHA256 {
    static let byteCount = 32

    static func hash(_ bytes: [UInt8]) -> [UInt8] {
        _ = CryptoLibraries.ready
        var digest = [UInt8](repeating: 0, count: byteCount)
        bytes.withUnsafeBufferPointer { input in
            _ = crypto_hash_sha256(&digest, input.baseAddress, UInt64(input.count))
        }
        return digest
    }

    /// XORs MGF1-SHA-256(seed) into `target` (RFC 8017 §B.2.1): the blocks SHA-256(seed ‖ BE32(counter)).
    static func maskMGF1(_ target: UnsafeMutableRawBufferPointer, seed: UnsafeRawBufferPointer) {
        _ = CryptoLibraries.ready
        var block = [UInt8](repeating: 0, count: byteCount)
        var offset = 0
        var counter: UInt32 = 0
        while offset < target.count {
            var state = crypto_hash_sha256_state()
            crypto_hash_sha256_init(&state)
            crypto_hash_sha256_update(&state, seed.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt64(seed.count))
            let counterBytes: [UInt8] = [UInt8(counter >> 24), UInt8(counter >> 16 & 0xFF), UInt8(counter >> 8 & 0xFF), UInt8(counter & 0xFF)]
            crypto_hash_sha256_update(&state, counterBytes, 4)
            crypto_hash_sha256_final(&state, &block)
            for index in 0..<min(byteCount, target.count - offset) { target[offset + index] ^= block[index] }
            offset += byteCount
            counter += 1
        }
        // The last block is mask material for secret bytes.
        sodium_memzero(&block, byteCount)
    }
}
