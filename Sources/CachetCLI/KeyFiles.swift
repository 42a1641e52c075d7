#if canImport(Glibc)
import Glibc
#endif
import CachetCrypto

/// Reading and writing key files: the only place the CLI touches private-key bytes on disk.
enum KeyFiles {
    static let privateKeyFileName = "tls.key"
    static let certificateFileName = "tls.crt"
    /// No key or certificate file is anywhere near this size; a larger file is a wrong path.
    static let sizeLimit = 1 << 20

    /// Reads a private key from a PEM file, or from `tls.key` in a key directory.
    static func readPrivateKey(at path: String) throws -> RSAPrivateKey {
        let file = isDirectory(path) ? join(path, privateKeyFileName) : path
        try refuseIfExposed(file)
        return try privateKey(from: readFile(file), path: file)
    }

    static func privateKey(from pem: SecureBytes, path: String) throws -> RSAPrivateKey {
        do {
            return try RSAPrivateKey(pem: pem)
        } catch let error as CachetCryptoError {
            throw CommandFailure("\(path): \(error.message)")
        }
    }

    /// Reads the key to seal to: a PEM certificate or public key, or `tls.crt` in a key directory.
    static func readSealingKey(at path: String) throws -> SealingKey {
        let file = isDirectory(path) ? join(path, certificateFileName) : path
        let pem = try readFile(file)
        do {
            return try SealingKey(pem: pem)
        } catch let error as CachetCryptoError {
            throw CommandFailure("\(file): \(error.message)", hint: hint(for: error))
        }
    }

    private static func hint(for error: CachetCryptoError) -> String? {
        switch error.code {
        case .certificateNotValid: "fetch the cluster's current certificate, or renew the key pair"
        case .unsupportedKey where error.message.contains("private key"): "pass the certificate, e.g. --cert keys/tls.crt"
        default: nil
        }
    }

    /// Reads a whole file into zeroing storage (key files are small; nothing needs a copy that outlives its use).
    static func readFile(_ path: String, limit: Int = sizeLimit) throws -> SecureBytes {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else {
            throw CommandFailure("cannot open \(path): \(String(cString: strerror(errno)))")
        }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0, status.st_mode & S_IFMT == S_IFREG else {
            throw CommandFailure("\(path) is not a regular file")
        }
        return try StandardStreams.readAll(from: descriptor, limit: limit, what: path)
    }

    /// Refuses a private key file owned by the current user that others may read or write, as OpenSSH does: a key
    /// anyone on the machine could copy is already compromised. Files owned by someone else (root-owned Secret
    /// volumes, for example) are not the user's to fix and are accepted.
    static func refuseIfExposed(_ path: String) throws {
        var status = stat()
        guard stat(path, &status) == 0 else {
            throw CommandFailure("cannot open \(path): \(String(cString: strerror(errno)))")
        }
        if status.st_uid == geteuid(), status.st_mode & 0o077 != 0 {
            throw CommandFailure(
                "\(path) is a private key readable or writable by others (mode \(String(status.st_mode & 0o777, radix: 8)))",
                hint: "restrict it with: chmod 600 \(path)")
        }
    }

    /// Writes a new file that must not exist yet, atomically: a temporary file in the same directory is written and
    /// synced, then hard-linked into place. `link` fails if the name exists, so an existing key is never replaced,
    /// and a crash leaves either no file or a complete one.
    static func createExclusively(_ path: String, contents: UnsafeRawBufferPointer, mode: mode_t) throws {
        let directory = parent(of: path)
        var template = Array(join(directory, ".cachet-new-XXXXXX").utf8CString)
        let descriptor = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard descriptor >= 0 else {
            throw CommandFailure("cannot create a file in \(directory): \(String(cString: strerror(errno)))")
        }
        let temporary = String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
        defer { unlink(temporary) }
        do {
            defer { close(descriptor) }
            // mkstemp creates 0600; set the final mode before any byte is written.
            guard fchmod(descriptor, mode) == 0 else {
                throw CommandFailure("cannot set the mode of \(path): \(String(cString: strerror(errno)))")
            }
            try StandardStreams.write(contents, to: descriptor)
            guard fsync(descriptor) == 0 else {
                throw CommandFailure("cannot write \(path): \(String(cString: strerror(errno)))")
            }
        }
        guard link(temporary, path) == 0 else {
            if errno == EEXIST {
                throw CommandFailure("\(path) already exists; cachet never overwrites a key file",
                                     hint: "choose another --out directory, or move the old key away first")
            }
            throw CommandFailure("cannot create \(path): \(String(cString: strerror(errno)))")
        }
        syncDirectory(directory)
    }

    static func isDirectory(_ path: String) -> Bool {
        var status = stat()
        return stat(path, &status) == 0 && status.st_mode & S_IFMT == S_IFDIR
    }

    static func exists(_ path: String) -> Bool {
        var status = stat()
        return lstat(path, &status) == 0
    }

    static func join(_ directory: String, _ name: String) -> String {
        directory.hasSuffix("/") ? directory + name : directory + "/" + name
    }

    static func parent(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    private static func syncDirectory(_ directory: String) {
        let descriptor = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard descriptor >= 0 else { return }
        fsync(descriptor)
        close(descriptor)
    }
}
