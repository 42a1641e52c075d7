import CachetCrypto
import CachetManifests
import FoundationEssentials

/// One key found in a file, for `cachet keys list` and `inspect`.
struct KeyMaterial {
    enum Kind {
        case certificate(Certificate)
        case publicKey(RSAPublicKey)
        case privateKey(RSAPrivateKey)
    }

    let kind: Kind
    let path: String

    var publicKey: RSAPublicKey {
        switch kind {
        case .certificate(let certificate): certificate.publicKey
        case .publicKey(let key): key
        case .privateKey(let key): key.publicKey
        }
    }

    var kindName: String {
        switch kind {
        case .certificate: "certificate"
        case .publicKey: "public key"
        case .privateKey: "private key"
        }
    }

    /// Loads every key a path names: the file itself, or `tls.crt` and `tls.key` in a key directory.
    static func load(_ path: String) throws -> [KeyMaterial] {
        guard SecretFiles.isDirectory(path) else { return [try loadFile(path)] }
        let files = [KeyFiles.certificateFileName, KeyFiles.privateKeyFileName]
            .map { SecretFiles.join(path, $0) }
            .filter(SecretFiles.exists)
        guard !files.isEmpty else {
            throw CommandFailure("\(path) holds neither \(KeyFiles.certificateFileName) nor \(KeyFiles.privateKeyFileName)")
        }
        return try files.map { file throws in try loadFile(file) }
    }

    private static func loadFile(_ path: String) throws -> KeyMaterial {
        let pem = try SecretFiles.read(path, limit: KeyFiles.sizeLimit)
        do {
            switch PEMContent(pem: pem) {
            case .certificate:
                return KeyMaterial(kind: .certificate(try Certificate(pem: pem)), path: path)
            case .publicKey:
                return KeyMaterial(kind: .publicKey(try RSAPublicKey(pem: pem)), path: path)
            case .privateKey, .encryptedPrivateKey:
                try SecretFiles.refuseIfExposed(path)
                return KeyMaterial(kind: .privateKey(try RSAPrivateKey(pem: pem)), path: path)
            case .unrecognized(let label):
                throw CommandFailure("\(path): not a certificate or key (\(label.map { "found \($0)" } ?? "no PEM block"))")
            }
        } catch let error as CachetCryptoError {
            throw CommandFailure("\(path): \(error.message)")
        }
    }
}
