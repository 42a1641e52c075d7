internal import CSodium
import FoundationEssentials

/// Bytes that must not outlive their use: session keys, private-key PEM, unsealed values.
///
/// The storage is locked in memory (not swapped), excluded from core dumps, and zeroed when the last reference goes.
/// Up to 4 KiB comes from OpenSSL's secure heap (``SecureArena``), larger buffers (and small ones once the arena's
/// share is used up) from `sodium_malloc`, with guard pages on both sides. The bytes never reach `description`,
/// `debugDescription` or a `Mirror`, so printing or dumping a `SecureBytes` shows no content.
///
/// > Important: Copying the bytes out (into an `Array`, `Data` or `String`) leaves a copy that is not zeroed.
/// > Do it only at the edge where the bytes are written out.
public final class SecureBytes: @unchecked Sendable {
    // @unchecked Sendable: the pointer is written only during construction (before the instance is shared);
    // afterwards the bytes are only read, or written through `withUnsafeMutableBytes` by their single owner.
    private let base: UnsafeMutableRawPointer
    /// The number of bytes held.
    public private(set) var count: Int
    /// The size allocated (``count`` may shrink below it).
    private let allocation: Int
    /// The bytes charged to ``SecureArena`` for this buffer; 0 when it is a libsodium allocation.
    private let arenaCharge: Int

    /// Zero-filled storage of `count` bytes.
    ///
    /// Throws when no guarded allocation can be made. Past the arena's share, each one is its own mapping with guard
    /// pages, and the system bounds mappings per process (about 65,000 on Linux), so input with tens of thousands of
    /// values can exhaust them: that is a clean error for the caller to report, never a crash.
    public init(count: Int) throws {
        _ = CryptoLibraries.ready
        // sodium_malloc(0) is legal but returns a pointer we may not touch; one byte keeps every path uniform.
        let allocation = max(count, 1)
        guard count >= 0 else { throw CachetCryptoError(.internalFailure, "a secret buffer of negative size") }
        if let (pointer, charge) = SecureArena.allocate(allocation) {
            self.base = pointer
            self.count = count
            self.allocation = allocation
            self.arenaCharge = charge
            return
        }
        guard let pointer = sodium_malloc(allocation) else {
            throw CachetCryptoError(
                .internalFailure,
                "out of guarded memory for secret values (the system limits how many can be held at once); split the input")
        }
        sodium_memzero(pointer, allocation)
        self.base = pointer
        self.count = count
        self.allocation = allocation
        self.arenaCharge = 0
    }

    /// A secure copy of `bytes`.
    public convenience init(copying bytes: some ContiguousBytes) throws {
        let size = bytes.withUnsafeBytes { $0.count }
        try self.init(count: size)
        bytes.withUnsafeBytes { source in
            if let address = source.baseAddress, size > 0 { base.copyMemory(from: address, byteCount: size) }
        }
    }

    deinit {
        if arenaCharge > 0 {
            SecureArena.free(base, count: allocation, charge: arenaCharge)
        } else {
            sodium_free(base)
        }
    }

    /// Whether the buffer is on OpenSSL's secure heap (else it is a libsodium guarded allocation).
    var isInSecureArena: Bool { arenaCharge > 0 }

    /// Whether it holds no bytes.
    public var isEmpty: Bool { count == 0 }

    /// Lends the bytes to `body`. The pointer must not escape it: the memory is zeroed and freed with the object.
    public func withUnsafeBytes<Result>(_ body: (UnsafeRawBufferPointer) throws -> Result) rethrows -> Result {
        try body(UnsafeRawBufferPointer(start: base, count: count))
    }

    /// Lends the bytes to `body` for writing (filling a buffer a C call decrypts into). The pointer must not escape.
    public func withUnsafeMutableBytes<Result>(
        _ body: (UnsafeMutableRawBufferPointer) throws -> Result
    ) rethrows -> Result {
        try body(UnsafeMutableRawBufferPointer(start: base, count: count))
    }

    /// Compares in time that depends only on the lengths, never on where the bytes differ.
    public func constantTimeEquals(_ other: some ContiguousBytes) -> Bool {
        other.withUnsafeBytes { theirs in
            theirs.count == count && (count == 0 || sodium_memcmp(base, theirs.baseAddress!, count) == 0)
        }
    }

    /// Keeps only the first `newCount` bytes; the rest is zeroed at once. For filling a buffer whose final length
    /// is known only after a C call has written into it.
    func shrink(to newCount: Int) {
        precondition(newCount >= 0 && newCount <= count, "SecureBytes can only shrink")
        sodium_memzero(base + newCount, count - newCount)
        count = newCount
    }
}

extension SecureBytes: ContiguousBytes {}

extension SecureBytes: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// `SecureBytes(redacted)`: never the bytes, nor their length, so that the description of a secret is safe to log.
    public var description: String { "SecureBytes(redacted)" }
    /// The same as ``description``.
    public var debugDescription: String { description }
    /// No children: `dump` and debuggers show nothing of the bytes.
    public var customMirror: Mirror { Mirror(self, children: [], displayStyle: .class) }
}

/// Scratch space (on the stack, when small) for a secret that lives only during `body` (a session key, an OAEP encoding while
/// sealing), zeroed when `body` returns or throws. Cheaper than ``SecureBytes`` by the dozen system calls a guarded,
/// locked allocation costs (on a VM those were a third of a seal); the bytes exist for microseconds, so swap and core
/// dumps are not the threat guarded memory answers — leaving them behind afterwards is, and the wipe answers that.
func withWipedScratch<Result>(
    byteCount: Int, _ body: (UnsafeMutableRawBufferPointer) throws -> Result
) throws -> Result {
    try withUnsafeTemporaryAllocation(byteCount: byteCount, alignment: 16) { scratch in
        defer { sodium_memzero(scratch.baseAddress, scratch.count) }
        sodium_memzero(scratch.baseAddress, scratch.count)
        return try body(scratch)
    }
}

/// Randomness from libsodium (`randombytes_buf`: getrandom(2) on Linux).
enum SystemRandom {
    static func secureBytes(count: Int) throws -> SecureBytes {
        let bytes = try SecureBytes(count: count)
        bytes.withUnsafeMutableBytes { buffer in
            if let address = buffer.baseAddress, count > 0 { randombytes_buf(address, count) }
        }
        return bytes
    }

    static func fill(_ buffer: UnsafeMutableRawBufferPointer) {
        _ = CryptoLibraries.ready
        if let address = buffer.baseAddress, buffer.count > 0 { randombytes_buf(address, buffer.count) }
    }

    static func bytes(count: Int) -> [UInt8] {
        _ = CryptoLibraries.ready
        var result = [UInt8](repeating: 0, count: count)
        result.withUnsafeMutableBytes { buffer in
            if let address = buffer.baseAddress, count > 0 { randombytes_buf(address, count) }
        }
        return result
    }
}
