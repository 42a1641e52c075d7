#if canImport(Glibc)
import Glibc
#endif
import CachetCrypto
import CachetManifests

/// Key files on disk from the CLI's side: the sealing key to read, new key pairs to write.
enum KeyFiles {
    static let privateKeyFileName = "tls.key"
    static let certificateFileName = "tls.crt"
    /// No key or certificate file comes near this size; a larger file is a wrong path.
    static let sizeLimit = 1 << 20

    /// Reads the key to seal to: a PEM certificate or public key, or `tls.crt` in a key directory.
    static func readSealingKey(at path: String) throws -> SealingKey {
        let file = SecretFiles.isDirectory(path) ? SecretFiles.join(path, certificateFileName) : path
        let pem = try SecretFiles.read(file, limit: sizeLimit)
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

    /// Writes a new file that must not exist yet, atomically: a temporary file in the same directory is written and
    /// synced, then hard-linked into place. `link` fails if the name exists, so an existing key is never replaced,
    /// and a crash leaves either no file or a complete one.
    static func createExclusively(_ path: String, contents: UnsafeRawBufferPointer, mode: mode_t) throws {
        let temporary = try OutputFiles.writeTemporary(besides: path, contents: contents, mode: mode)
        defer { unlink(temporary) }
        guard link(temporary, path) == 0 else {
            if errno == EEXIST {
                throw CommandFailure("\(path) already exists; cachet never overwrites a key file",
                                     hint: "choose another --out directory, or move the old key away first")
            }
            throw CommandFailure("cannot create \(path): \(String(cString: strerror(errno)))")
        }
        OutputFiles.syncDirectory(of: path)
    }
}
