import ArgumentParser
import CachetCrypto
import CachetManifests
import CachetProgram
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

    /// Loads every key a path names: the file itself (a PEM, or a Secret backup as `unseal --key` takes), or
    /// `tls.crt` and `tls.key` in a key directory.
    static func load(_ path: String) throws -> [KeyMaterial] {
        guard SecretFiles.isDirectory(path) else { return try loadFile(path) }
        let files = [KeyFiles.certificateFileName, KeyFiles.privateKeyFileName]
            .map { SecretFiles.join(path, $0) }
            .filter(SecretFiles.exists)
        guard !files.isEmpty else {
            throw CommandFailure("\(path) holds neither \(KeyFiles.certificateFileName) nor \(KeyFiles.privateKeyFileName)")
        }
        return try files.flatMap { file throws in try loadFile(file) }
    }

    private static func loadFile(_ path: String) throws -> [KeyMaterial] {
        let pem = try SecretFiles.read(path, limit: SecretFiles.defaultLimit)
        do {
            switch PEMContent(pem: pem) {
            case .certificate:
                return [KeyMaterial(kind: .certificate(try Certificate(pem: pem)), path: path)]
            case .publicKey:
                return [KeyMaterial(kind: .publicKey(try RSAPublicKey(pem: pem)), path: path)]
            case .privateKey, .encryptedPrivateKey:
                try SecretFiles.refuseIfExposed(path)
                return [KeyMaterial(kind: .privateKey(try RSAPrivateKey(pem: pem)), path: path)]
            case .unrecognized(let label):
                if label == nil, let keys = try secretBackup(pem, path: path) { return keys }
                throw CommandFailure("\(path): not a certificate, key or key backup (\(label.map { "found \($0)" } ?? "no PEM block"))")
            }
        } catch let error as CachetCryptoError {
            throw CommandFailure("\(path): \(error.message)")
        }
    }

    /// The certificates and keys of a Secret backup (`kubectl get secret -l sealedsecrets.bitnami.com/sealed-secrets-key
    /// -o yaml`), each named by file and Secret; nil if the file holds no Secrets at all.
    private static func secretBackup(_ contents: SecureBytes, path: String) throws -> [KeyMaterial]? {
        guard let objects = try? ManifestReader.objects(in: ManifestReader.documents(in: contents)), !objects.isEmpty,
              objects.allSatisfy({ $0.kind == "Secret" })
        else { return nil }
        try SecretFiles.refuseIfExposed(path)  // a backup holds private keys
        var keys: [KeyMaterial] = []
        for object in objects {
            let secret = try inFile(path) { try SecretManifest(object) }
            let name = "\(path) (\(object.label))"
            if let certificate = secret.items[KeyFiles.certificateFileName] {
                keys.append(KeyMaterial(kind: .certificate(try Certificate(pem: certificate)), path: name))
            }
            if let key = secret.items[KeyFiles.privateKeyFileName] {
                keys.append(KeyMaterial(kind: .privateKey(try RSAPrivateKey(pem: key)), path: name))
            }
        }
        guard !keys.isEmpty else { throw CommandFailure("\(path): its Secrets hold no tls.crt or tls.key, so it is not a key backup") }
        return keys
    }
}

/// The key files `cachet keys list` and `cachet keys inspect` read: at least one.
struct KeyFileArguments: ParsableArguments {
    @Argument(help: "Certificates, public or private keys, or key directories (holding tls.crt and tls.key).")
    var paths: [String]

    func validate() throws {
        guard !paths.isEmpty else { throw ValidationError("name at least one key file or key directory") }
    }

    /// Every key in every path, in order.
    func load() throws -> [KeyMaterial] {
        try paths.flatMap { path throws in try KeyMaterial.load(path) }
    }
}
