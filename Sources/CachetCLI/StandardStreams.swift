#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CachetCrypto
import CachetManifests

/// Unbuffered writes to stdout and stderr.
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

    /// A diagnostic line on stderr. Failures to write diagnostics are ignored: there is nowhere left to report them.
    static func diagnose(_ line: String) {
        // One line, always: names and file names in diagnostics come from input, and their control characters (a
        // newline forging a "success" line, a terminal escape) are shown escaped.
        var copy = line.escapingControlCharacters() + "\n"
        copy.withUTF8 { buffer in try? write(UnsafeRawBufferPointer(buffer), to: 2) }
    }

    /// A warning on stderr: `cachet: warning: …`.
    static func warn(_ line: String) {
        diagnose("cachet: warning: " + line)
    }
}

extension String {
    /// The string padded with spaces to `width` characters (for aligned columns).
    func padded(to width: Int) -> String {
        count >= width ? self : self + String(repeating: " ", count: width - count)
    }
}
