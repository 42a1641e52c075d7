internal import COpenSSL
internal import CSodium

/// One-time set-up of the two C libraries, done before the first key or secret byte is handled.
enum CryptoLibraries {
    /// Size of OpenSSL's secure heap. Private-key BIGNUMs (d, p, q, dP, dQ, qInv) are allocated there once it
    /// exists: a few KiB per RSA-4096 key, so 1 MiB holds hundreds of keys.
    static let secureHeapSize = 1 << 20

    /// libsodium, before any sodium_malloc or randombytes. Evaluated once, thread-safely (Swift globals and statics
    /// are lazily initialised under a lock); sodium_init itself is idempotent.
    static let ready: Bool = {
        guard sodium_init() >= 0 else { fatalError("libsodium failed to initialise") }
        return true
    }()

    /// OpenSSL's secure heap, before any private key is decoded or generated: otherwise the key's BIGNUMs land on the
    /// ordinary heap. The arena is mlocked and marked MADV_DONTDUMP; a return of 2 means it could not be locked
    /// (RLIMIT_MEMLOCK) but still works, so that is not fatal. Only private-key paths pay for it: sealing does not.
    static let secureHeapReady: Bool = {
        _ = ready
        _ = CRYPTO_secure_malloc_init(secureHeapSize, 32)
        return true
    }()

    /// Bytes of OpenSSL's secure heap in use now (0 if it could not be set up).
    static var secureHeapBytesInUse: Int {
        _ = secureHeapReady
        return Int(CRYPTO_secure_used())
    }

    static var secureHeapInitialized: Bool {
        _ = secureHeapReady
        return CRYPTO_secure_malloc_initialized() == 1
    }
}
