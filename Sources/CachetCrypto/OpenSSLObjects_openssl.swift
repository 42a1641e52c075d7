internal import COpenSSL

// Owners of OpenSSL objects. Each C object has exactly one owning class that frees it in `deinit`; raw pointers are
// used only inside this module and never escape a call.

/// An `EVP_PKEY`. `@unchecked Sendable`: OpenSSL 3 keys are immutable once built and safe to use from several
/// threads at once for encryption, decryption and signing (each operation makes its own EVP_PKEY_CTX).
final class EVPKey: @unchecked Sendable {
    let pointer: OpaquePointer

    init(taking pointer: OpaquePointer) {
        self.pointer = pointer
    }

    deinit {
        EVP_PKEY_free(pointer)
    }

    var isRSA: Bool { EVP_PKEY_get_base_id(pointer) == EVP_PKEY_RSA }

    /// "RSA", "EC", "ED25519", … for messages.
    var typeName: String {
        EVP_PKEY_get0_type_name(pointer).map { String(cString: $0) } ?? "unknown"
    }

    var bits: Int { Int(EVP_PKEY_get_bits(pointer)) }

    /// For RSA, the modulus size in bytes (k).
    var size: Int { Int(EVP_PKEY_get_size(pointer)) }

    /// DER SubjectPublicKeyInfo of the public half.
    func subjectPublicKeyInfoDER() throws -> [UInt8] {
        let length = i2d_PUBKEY(pointer, nil)
        guard length > 0 else { throw OpenSSLFailure.internalError("encoding a public key") }
        var der = [UInt8](repeating: 0, count: Int(length))
        let written = der.withUnsafeMutableBufferPointer { buffer -> Int32 in
            var cursor = buffer.baseAddress
            return i2d_PUBKEY(pointer, &cursor)
        }
        guard written == length else { throw OpenSSLFailure.internalError("encoding a public key") }
        return der
    }

    /// A new key holding only the public half, so public-key objects never carry private material.
    static func publicOnly(fromSubjectPublicKeyInfo der: [UInt8]) throws -> EVPKey {
        let decoded = der.withUnsafeBufferPointer { buffer -> OpaquePointer? in
            var cursor: UnsafePointer<UInt8>? = buffer.baseAddress
            return d2i_PUBKEY(nil, &cursor, buffer.count)
        }
        guard let decoded else { throw OpenSSLFailure.internalError("decoding a public key") }
        return EVPKey(taking: decoded)
    }
}

/// An `X509` certificate; immutable once parsed, so safe to share.
final class X509Certificate: @unchecked Sendable {
    let pointer: OpaquePointer

    init(taking pointer: OpaquePointer) {
        self.pointer = pointer
    }

    deinit {
        X509_free(pointer)
    }
}

/// A memory `BIO`.
final class MemoryBIO {
    let pointer: OpaquePointer

    /// A read-only BIO over `bytes`, which must outlive it (use inside `withUnsafeBytes`).
    init(reading bytes: UnsafeRawBufferPointer) throws {
        guard bytes.count <= Int(Int32.max),
              let bio = BIO_new_mem_buf(bytes.baseAddress ?? UnsafeRawPointer(bitPattern: 1), Int32(bytes.count))
        else { throw OpenSSLFailure.internalError("allocating a buffer") }
        pointer = bio
    }

    /// An empty, writable BIO. A `secure` one lives on OpenSSL's secure heap and is cleansed when freed.
    init(secure: Bool) throws {
        guard let bio = BIO_new(secure ? BIO_s_secmem() : BIO_s_mem()) else {
            throw OpenSSLFailure.internalError("allocating a buffer")
        }
        pointer = bio
    }

    deinit {
        BIO_free(pointer)
    }

    var pendingByteCount: Int { Int(BIO_ctrl_pending(pointer)) }

    /// Everything written so far, as ordinary bytes (for public data only).
    func readAll() -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: pendingByteCount)
        let read = bytes.withUnsafeMutableBytes { BIO_read(pointer, $0.baseAddress, Int32($0.count)) }
        return Array(bytes.prefix(max(0, Int(read))))
    }

    /// Everything written so far, into zeroing storage (for private-key PEM).
    func readAllSecurely() throws -> SecureBytes {
        let secure = try SecureBytes(count: pendingByteCount)
        let read = secure.withUnsafeMutableBytes { BIO_read(pointer, $0.baseAddress, Int32($0.count)) }
        secure.shrink(to: max(0, Int(read)))
        return secure
    }
}

/// Turns OpenSSL failures into ``CachetCryptoError``s, and keeps OpenSSL's per-thread error queue empty so that one
/// failure never shows up as the cause of a later, unrelated one.
enum OpenSSLFailure {
    /// The first queued OpenSSL reason, for failures on public data (parsing a certificate). The queue is cleared.
    static func reason() -> String {
        let code = ERR_get_error()
        ERR_clear_error()
        guard code != 0, let text = ERR_reason_error_string(code) else { return "unknown reason" }
        return String(cString: text)
    }

    /// Forgets the queued errors without reading them: used where the reason could reveal secret-dependent detail.
    static func discard() {
        ERR_clear_error()
    }

    static func internalError(_ doing: String) -> CachetCryptoError {
        CachetCryptoError(.internalFailure, "OpenSSL failed while \(doing): \(reason())")
    }
}
