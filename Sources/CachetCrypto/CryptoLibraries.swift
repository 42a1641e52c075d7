import COpenSSL
import CSodium

/// One-time set-up of the two C libraries, done before the first key or secret byte is handled.
enum CryptoLibraries {
    /// Size of OpenSSL's secure heap. Private-key BIGNUMs (d, p, q, dP, dQ, qInv) are allocated there once it
    /// exists: a few KiB per RSA-4096 key, so 1 MiB holds hundreds of keys.
    static let secureHeapSize = 1 << 20

    /// Evaluated once, thread-safely (Swift globals and statics are lazily initialised under a lock).
    static let ready: Bool = {
        // libsodium must be initialised before sodium_malloc or randombytes; it is idempotent and thread-safe.
        guard sodium_init() >= 0 else { fatalError("libsodium failed to initialise") }
        // The secure heap must exist before any private key is decoded or generated, or the key's BIGNUMs land on
        // the ordinary heap. It mlocks the arena and marks it MADV_DONTDUMP; a return of 2 means the memory could not
        // be locked (RLIMIT_MEMLOCK) but the heap still works, so it is not fatal.
        _ = CRYPTO_secure_malloc_init(secureHeapSize, 32)
        return true
    }()

    /// Bytes of OpenSSL's secure heap in use now (0 if it could not be set up).
    static var secureHeapBytesInUse: Int {
        _ = ready
        return Int(CRYPTO_secure_used())
    }

    static var secureHeapInitialized: Bool {
        _ = ready
        return CRYPTO_secure_malloc_initialized() == 1
    }
}
