import FoundationEssentials

/// Format v1, Bitnami sealed-secrets' value format (docs/wire-format.md §2):
/// `BE16(k) ‖ RSA-OAEP(sessionKey, label: scope) ‖ AES-256-GCM(value, nonce: 0) ‖ tag`.
public enum EnvelopeV1 {
    static let sessionKeyByteCount = 32
    /// GCM's nonce is fixed at zero. That is safe only because every session key is fresh and encrypts one value.
    static let zeroNonce = [UInt8](repeating: 0, count: 12)

    /// Seals `value` to `key` for `scope` and returns the envelope bytes.
    public static func seal(
        _ value: some ContiguousBytes, to key: RSAPublicKey, scope: SealingScope
    ) throws -> [UInt8] {
        try key.checkSealingStrength()
        try scope.validate()
        return try withWipedScratch(byteCount: sessionKeyByteCount) { sessionKey in
            SystemRandom.fill(sessionKey)
            let wrappedKey = try key.encryptOAEP(UnsafeRawBufferPointer(sessionKey), label: scope.label)
            let body = try value.withUnsafeBytes { bytes throws in
                try AES256GCM.seal(bytes, key: UnsafeRawBufferPointer(sessionKey), nonce: zeroNonce)
            }
            // Two length bytes: keys are bounded at 16,384 bits (2,048 bytes) when read, far inside this.
            guard wrappedKey.count <= 0xFFFF else { throw CachetCryptoError(.unsupportedKey, "the RSA key is too large") }
            var envelope = [UInt8]()
            envelope.reserveCapacity(2 + wrappedKey.count + body.count)
            envelope.append(UInt8(truncatingIfNeeded: wrappedKey.count >> 8))
            envelope.append(UInt8(truncatingIfNeeded: wrappedKey.count))
            envelope.append(contentsOf: wrappedKey)
            envelope.append(contentsOf: body)
            return envelope
        }
    }

    /// Seals `value` and returns the sealed value as it is written into `encryptedData`: one line of padded base64.
    public static func sealedValue(
        _ value: some ContiguousBytes, to key: RSAPublicKey, scope: SealingScope
    ) throws -> String {
        Base64.encode(try seal(value, to: key, scope: scope))
    }

    /// Opens envelope bytes with `key` for `scope`.
    ///
    /// A malformed envelope throws ``CachetCryptoError/Code/malformedValue``; everything that depends on the key
    /// (wrong key, wrong scope, altered bytes) throws the single ``CachetCryptoError/Code/cannotOpen``.
    public static func open(
        _ envelope: some ContiguousBytes, with key: RSAPrivateKey, scope: SealingScope
    ) throws -> SecureBytes {
        try scope.validate()
        return try envelope.withUnsafeBytes { bytes throws in
            let wrappedKeyLength = try self.wrappedKeyLength(bytes)
            // Another key size than this key's: the value was sealed to a different key. Same error as any
            // other wrong key, so callers cannot tell "wrong key" from "altered" by the message.
            guard wrappedKeyLength == key.publicKey.modulusByteCount else { throw CachetCryptoError.cannotOpen }
            return try key.withDecryptedOAEP(
                UnsafeRawBufferPointer(rebasing: bytes[2..<2 + wrappedKeyLength]), label: scope.label
            ) { sessionKey in
                guard sessionKey.count == sessionKeyByteCount else { throw CachetCryptoError.cannotOpen }
                return try AES256GCM.open(
                    UnsafeRawBufferPointer(rebasing: bytes[(2 + wrappedKeyLength)...]), key: sessionKey, nonce: zeroNonce)
            }
        }
    }

    /// Opens a sealed value given as base64 text (CR and LF inside are skipped, as Go does).
    public static func open(
        sealedValue: some StringProtocol, with key: RSAPrivateKey, scope: SealingScope
    ) throws -> SecureBytes {
        try open(Base64.decode(sealedValue), with: key, scope: scope)
    }

    /// The RSA ciphertext length an envelope declares (its first two bytes), after checking that the envelope is
    /// long enough to hold it and a GCM tag. Lets a key ring skip keys of another size without any RSA work.
    package static func wrappedKeyLength(of envelope: some ContiguousBytes) throws -> Int {
        try envelope.withUnsafeBytes { bytes throws in try wrappedKeyLength(bytes) }
    }

    private static func wrappedKeyLength(_ bytes: UnsafeRawBufferPointer) throws -> Int {
        guard bytes.count >= 2 else {
            throw CachetCryptoError(.malformedValue, "not a v1 sealed value: too short (\(bytes.count) bytes)")
        }
        let length = Int(bytes[0]) << 8 | Int(bytes[1])
        guard bytes.count >= 2 + length + AES256GCM.tagByteCount else {
            throw CachetCryptoError(
                .malformedValue,
                "not a v1 sealed value: \(bytes.count) bytes cannot hold the declared \(length)-byte RSA block and a tag")
        }
        return length
    }
}
