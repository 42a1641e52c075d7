#if canImport(Glibc)
import Glibc
#endif
import CachetCrypto

/// Reading files that may hold secrets (private keys, key backups, Secrets), straight into zeroing storage.
package enum SecretFiles {
    /// No key file or Secret manifest comes near this; a larger file is a wrong path.
    package static let defaultLimit = 16 << 20

    /// Reads a whole regular file (or stdin, for `-`) into ``SecureBytes``.
    package static func read(_ path: String, limit: Int = defaultLimit) throws(FileError) -> SecureBytes {
        if path == "-" { return try read(descriptor: 0, name: "stdin", limit: limit) }
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw FileError("cannot open \(path): \(errorText())") }
        defer { close(descriptor) }
        // Regular files, and what shells hand over as files: pipes (`/dev/stdin`, `<(…)`), terminals, sockets. The
        // limit bounds what any of them can feed in. A directory or a block device is a wrong path.
        var status = stat()
        guard fstat(descriptor, &status) == 0 else { throw FileError("cannot read \(path): \(errorText())") }
        switch status.st_mode & S_IFMT {
        case S_IFREG, S_IFIFO, S_IFCHR, S_IFSOCK: break
        case S_IFDIR: throw FileError("\(path) is a directory, not a file")
        default: throw FileError("\(path) is not a file that can be read")
        }
        return try read(descriptor: descriptor, name: path, limit: limit)
    }

    /// Reads a descriptor to its end, refusing more than `limit` bytes. The buffer grows by doubling; each outgrown
    /// buffer is zeroed as it is released, so no copy of a secret is left behind.
    package static func read(descriptor: Int32, name: String, limit: Int) throws(FileError) -> SecureBytes {
        var buffer = try secureBuffer(count: min(64 * 1024, limit + 1), for: name)
        var filled = 0
        while filled <= limit {
            if filled == buffer.count {
                let larger = try secureBuffer(count: min(buffer.count * 2, limit + 1), for: name)
                buffer.withUnsafeBytes { old in larger.withUnsafeMutableBytes { $0.copyMemory(from: old) } }
                buffer = larger
            }
            let room = buffer.count - filled
            let count = buffer.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress! + filled, room) }
            if count < 0 {
                if errno == EINTR { continue }
                throw FileError("cannot read \(name): \(errorText())")
            }
            if count == 0 { break }
            filled += count
        }
        guard filled <= limit else { throw FileError("\(name) is larger than \(limit / 1024) KiB") }
        let exact = try secureBuffer(count: filled, for: name)
        buffer.withUnsafeBytes { old in
            exact.withUnsafeMutableBytes { $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: old[0..<filled])) }
        }
        return exact
    }

    private static func secureBuffer(count: Int, for name: String) throws(FileError) -> SecureBytes {
        do {
            return try SecureBytes(count: count)
        } catch {
            throw FileError("cannot read \(name): \(error)")
        }
    }

    /// Writes all of `bytes` to a descriptor, retrying short writes and EINTR.
    package static func write(_ bytes: UnsafeRawBufferPointer, to descriptor: Int32) throws(FileError) {
        var offset = 0
        while offset < bytes.count {
            let written = Glibc.write(descriptor, bytes.baseAddress! + offset, bytes.count - offset)
            if written < 0 {
                if errno == EINTR { continue }
                throw FileError("cannot write output: \(errorText())")
            }
            offset += written
        }
    }

    /// Refuses a private key file owned by the current user that others may read or write, as OpenSSH does: a key
    /// anyone on the machine could copy is already compromised. Files owned by someone else (root-owned Secret
    /// volumes, for example) are not the user's to fix and are accepted.
    package static func refuseIfExposed(_ path: String) throws(FileError) {
        var status = stat()
        guard stat(path, &status) == 0 else { throw FileError("cannot open \(path): \(errorText())") }
        if status.st_uid == geteuid(), status.st_mode & 0o077 != 0 {
            throw FileError(
                "\(path) holds a private key and is readable or writable by others (mode \(String(status.st_mode & 0o777, radix: 8)))",
                hint: "restrict it with: chmod 600 \(path)")
        }
    }

    package static func isDirectory(_ path: String) -> Bool {
        var status = stat()
        return stat(path, &status) == 0 && status.st_mode & S_IFMT == S_IFDIR
    }

    package static func exists(_ path: String) -> Bool {
        var status = stat()
        return lstat(path, &status) == 0
    }

    package static func join(_ directory: String, _ name: String) -> String {
        directory.hasSuffix("/") ? directory + name : directory + "/" + name
    }

    static func errorText() -> String {
        String(cString: strerror(errno))
    }
}
