#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CachetCrypto

/// Unbuffered writes to stdout and stderr, and reading all of stdin into zeroing storage.
enum StandardStreams {
    /// Writes `bytes` to a file descriptor in full, retrying short writes and EINTR.
    static func write(_ bytes: UnsafeRawBufferPointer, to descriptor: Int32) throws {
        var offset = 0
        while offset < bytes.count {
            let written = Glibc.write(descriptor, bytes.baseAddress! + offset, bytes.count - offset)
            if written < 0 {
                if errno == EINTR { continue }
                throw CommandFailure("cannot write output: \(String(cString: strerror(errno)))")
            }
            offset += written
        }
    }

    static func writeOutput(_ text: String) throws {
        var copy = text
        try copy.withUTF8 { buffer throws in try write(UnsafeRawBufferPointer(buffer), to: 1) }
    }

    static func writeOutput(_ bytes: SecureBytes) throws {
        try bytes.withUnsafeBytes { buffer throws in try write(buffer, to: 1) }
    }

    /// A diagnostic line on stderr. Failures to write diagnostics are ignored: there is nowhere left to report them.
    static func diagnose(_ line: String) {
        var copy = line + "\n"
        copy.withUTF8 { buffer in try? write(UnsafeRawBufferPointer(buffer), to: 2) }
    }

    /// Reads a descriptor to its end into ``SecureBytes``, refusing more than `limit` bytes. The buffer grows by
    /// doubling; each outgrown buffer is zeroed as it is released, so no copy of a secret is left behind.
    static func readAll(from descriptor: Int32, limit: Int, what: String) throws -> SecureBytes {
        var buffer = SecureBytes(count: 64 * 1024)
        var filled = 0
        while true {
            if filled == buffer.count {
                guard filled <= limit else { break }
                let larger = SecureBytes(count: min(buffer.count * 2, limit + 1))
                buffer.withUnsafeBytes { old in larger.withUnsafeMutableBytes { $0.copyMemory(from: old) } }
                buffer = larger
            }
            let room = buffer.count - filled
            let read = buffer.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress! + filled, room) }
            if read < 0 {
                if errno == EINTR { continue }
                throw CommandFailure("cannot read \(what): \(String(cString: strerror(errno)))")
            }
            if read == 0 { break }
            filled += read
            if filled > limit { break }
        }
        guard filled <= limit else {
            throw CommandFailure("\(what) is larger than \(limit / 1024) KiB")
        }
        let exact = SecureBytes(count: filled)
        buffer.withUnsafeBytes { old in
            exact.withUnsafeMutableBytes { $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: old[0..<filled])) }
        }
        return exact
    }
}
