#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CachetCrypto
import CachetManifests
import CachetProgram

/// Unbuffered writes to stdout (diagnostics go through ``StandardError``).
enum StandardStreams {
    /// Writes `bytes` to a file descriptor in full.
    static func write(_ bytes: UnsafeRawBufferPointer, to descriptor: Int32) throws {
        try SecretFiles.write(bytes, to: descriptor)
    }

    static func writeOutput(_ text: String) throws {
        var copy = text
        try copy.withUTF8 { buffer throws in try write(UnsafeRawBufferPointer(buffer), to: 1) }
    }

    static func writeOutput(_ bytes: SecureBytes) throws {
        try bytes.withUnsafeBytes { buffer throws in try write(buffer, to: 1) }
    }

    /// A warning on stderr: `cachet: warning: …`.
    static func warn(_ line: String) {
        StandardError.write("cachet: warning: " + line)
    }
}

extension String {
    /// The string padded with spaces to `width` characters (for aligned columns).
    func padded(to width: Int) -> String {
        count >= width ? self : self + String(repeating: " ", count: width - count)
    }
}
