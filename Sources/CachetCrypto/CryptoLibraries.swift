internal import COpenSSL
internal import CSodium
import Synchronization

/// One-time set-up of the two C libraries, done before the first key or secret byte is handled.
enum CryptoLibraries {
    /// Size of OpenSSL's secure heap. Private-key BIGNUMs (d, p, q, dP, dQ, qInv) are allocated there once it
    /// exists, a few KiB per RSA-4096 key; a quarter is ``SecureArena``'s, the rest (hundreds of keys) is left to them.
    static let secureHeapSize = 2 << 20

    /// libsodium, before any sodium_malloc or randombytes. Evaluated once, thread-safely (Swift globals and statics
    /// are lazily initialised under a lock); sodium_init itself is idempotent.
    static let ready: Bool = {
        guard sodium_init() >= 0 else { fatalError("libsodium failed to initialise") }
        return true
    }()

    /// OpenSSL's secure heap, before any private key is decoded or generated: otherwise the key's BIGNUMs land on the
    /// ordinary heap. The arena is mlocked and marked MADV_DONTDUMP; a return of 2 means it could not be locked
    /// (RLIMIT_MEMLOCK below its size: locking is all or nothing) but still works, so that is not fatal. Set up on the
    /// first private key or ``SecureBytes``: about a millisecond, once.
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

/// Small ``SecureBytes`` (session keys, most values) on OpenSSL's secure heap.
///
/// A libsodium guarded allocation is its own mapping: about ten system calls to make and free, and unmapping locked
/// pages interrupts every core to flush its TLB. Opening a value took two of them, which cost bulk opening 6% of its
/// rate. The secure heap is one arena set up once: locked (as far as RLIMIT_MEMLOCK allows, as with libsodium),
/// excluded from core dumps, guard pages around the arena, each chunk cleansed on free; no system call per buffer.
/// What it lacks is a guard page around each buffer: an overrun would reach a neighbouring secret instead of
/// faulting. Swift's own accesses are bounds-checked, and the C calls that write into these buffers are given their
/// sizes, so that was judged the smaller risk. Its share is capped at a quarter of the heap, so that private keys
/// find room whatever values a request holds (the OAEP scratch space falls back to wiped stack space if the heap is
/// ever full); past the cap, and above 4 KiB, libsodium serves as before. A bulk run holds a few hundred values at
/// once, far inside the share.
enum SecureArena {
    static let largestBuffer = 4096
    /// A quarter of the secure heap.
    static let share = CryptoLibraries.secureHeapSize / 4
    /// Bytes of the share in use, counted as the heap's buddy allocator rounds them (powers of two, at least 32).
    private static let charged = Atomic<Int>(0)

    /// A zeroed buffer of `count` bytes and what it was charged; nil when libsodium must serve it.
    static func allocate(_ count: Int) -> (UnsafeMutableRawPointer, charge: Int)? {
        guard count > 0, count <= largestBuffer, CryptoLibraries.secureHeapReady else { return nil }
        let charge = max(32, 1 << (Int.bitWidth - (count - 1).leadingZeroBitCount))
        guard charged.add(charge, ordering: .relaxed).newValue <= share else {
            charged.subtract(charge, ordering: .relaxed)
            return nil
        }
        // A full heap answers NULL (and queues an error, dropped so that no later failure is misreported); a heap
        // that was never set up answers ordinary memory: take only what is really inside the arena.
        guard let pointer = cachet_secure_scratch(count) else {
            OpenSSLFailure.discard()
            charged.subtract(charge, ordering: .relaxed)
            return nil
        }
        guard CRYPTO_secure_allocated(pointer) == 1 else {
            cachet_secure_scratch_free(pointer, count)
            charged.subtract(charge, ordering: .relaxed)
            return nil
        }
        return (pointer, charge)
    }

    /// Cleanses and returns a buffer of `count` bytes from ``allocate(_:)``.
    static func free(_ pointer: UnsafeMutableRawPointer, count: Int, charge: Int) {
        cachet_secure_scratch_free(pointer, count)
        charged.subtract(charge, ordering: .relaxed)
    }

    /// Bytes of the share in use now.
    static var inUse: Int { charged.load(ordering: .relaxed) }
}
