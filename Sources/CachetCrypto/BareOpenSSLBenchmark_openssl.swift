import COpenSSL

/// The baseline the v1 budget is measured against: OpenSSL's RSA-OAEP private operation with nothing of Cachet
/// around it (one context, set up once, reused for every call). Exposed only to the benchmark executable.
@_spi(Benchmarks)
public enum BareOpenSSL {
    /// Runs `iterations` OAEP decryptions of `ciphertext`; the caller times the call.
    public static func runOAEPDecrypt(
        _ ciphertext: [UInt8], key: RSAPrivateKey, label: [UInt8], iterations: Int
    ) throws {
        let context = try OAEPContext(key: key.key, mode: .decrypt, label: label)
        var output = [UInt8](repeating: 0, count: key.key.size)
        for _ in 0..<iterations {
            var length = output.count
            let status = output.withUnsafeMutableBufferPointer { out in
                ciphertext.withUnsafeBufferPointer { input in
                    EVP_PKEY_decrypt(context.pointer, out.baseAddress, &length, input.baseAddress, input.count)
                }
            }
            guard status == 1 else { throw OpenSSLFailure.internalError("the bare RSA-OAEP decryption") }
        }
    }

    /// Runs `iterations` OAEP encryptions of `message`; the caller times the call.
    public static func runOAEPEncrypt(
        _ message: [UInt8], key: RSAPublicKey, label: [UInt8], iterations: Int
    ) throws {
        let context = try OAEPContext(key: key.evpKey, mode: .encrypt, label: label)
        var output = [UInt8](repeating: 0, count: key.modulusByteCount)
        for _ in 0..<iterations {
            var length = output.count
            let status = output.withUnsafeMutableBufferPointer { out in
                message.withUnsafeBufferPointer { input in
                    EVP_PKEY_encrypt(context.pointer, out.baseAddress, &length, input.baseAddress, input.count)
                }
            }
            guard status == 1 else { throw OpenSSLFailure.internalError("the bare RSA-OAEP encryption") }
        }
    }

    /// The OAEP ciphertext inside a v1 envelope (bytes 2 ..< 2 + k), to time the bare operation on the same input.
    public static func wrappedKey(of envelope: [UInt8]) throws -> [UInt8] {
        let length = try EnvelopeV1.wrappedKeyLength(of: envelope)
        return Array(envelope[2..<2 + length])
    }
}
