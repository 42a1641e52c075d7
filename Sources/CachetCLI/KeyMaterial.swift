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
        case ageRecipient(AgeRecipient)
        case ageIdentity(AgeIdentity)
    }

    let kind: Kind
    let path: String

    /// The id `cachet.dev/sealed-by` and the controller's logs use, the same rule for both kinds of key.
    var keyID: KeyID {
        switch kind {
        case .certificate(let certificate): certificate.publicKey.keyID
        case .publicKey(let key): key.keyID
        case .privateKey(let key): key.keyID
        case .ageRecipient(let recipient): recipient.keyID
        case .ageIdentity(let identity): identity.keyID
        }
    }

    /// `RSA-4096` or `X25519`.
    var algorithm: String {
        switch kind {
        case .certificate(let certificate): "RSA-\(certificate.publicKey.bits)"
        case .publicKey(let key): "RSA-\(key.bits)"
        case .privateKey(let key): "RSA-\(key.publicKey.bits)"
        case .ageRecipient, .ageIdentity: "X25519"
        }
    }

    var kindName: String {
        switch kind {
        case .certificate: "certificate"
        case .publicKey: "public key"
        case .privateKey: "private key"
        case .ageRecipient: "age recipient"
        case .ageIdentity: "age identity"
        }
    }

    /// Loads every key a path names: the file itself (a PEM, an age identity or recipients file, or a Secret backup
    /// as `unseal --key` takes), or the key files of a key directory.
    static func load(_ path: String) throws -> [KeyMaterial] {
        guard SecretFiles.isDirectory(path) else { return try loadFile(path) }
        let names = [KeyFiles.certificateFileName, KeyFiles.privateKeyFileName, KeyRing.ageIdentityItem, KeyRing.ageRecipientsItem]
        let files = names.map { SecretFiles.join(path, $0) }.filter(SecretFiles.exists)
        guard !files.isEmpty else {
            throw CommandFailure("\(path) holds none of " + names.joined(separator: ", "))
        }
        return try files.flatMap { file throws in try loadFile(file) }
    }

    private static func loadFile(_ path: String) throws -> [KeyMaterial] {
        let pem = try SecretFiles.read(path, limit: SecretFiles.defaultLimit)
        do {
            if let keys = try ageKeys(pem, path: path) { return keys }
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

    /// The identities or recipients of an age key file (by its first line that is not a comment); nil for other files.
    private static func ageKeys(_ contents: SecureBytes, path: String) throws -> [KeyMaterial]? {
        let text = contents.withUnsafeBytes { bytes in
            bytes.split(separator: UInt8(ascii: "\n")).first { !$0.isEmpty && $0.first != UInt8(ascii: "#") }.map { Array($0.prefix(15)) } ?? []
        }
        if text.map({ $0 >= 0x61 && $0 <= 0x7A ? $0 - 32 : $0 }).starts(with: "AGE-SECRET-KEY-".utf8) {
            try SecretFiles.refuseIfExposed(path)
            return try AgeIdentity.list(in: contents).map { KeyMaterial(kind: .ageIdentity($0), path: path) }
        }
        if text.map({ $0 >= 0x41 && $0 <= 0x5A ? $0 + 32 : $0 }).starts(with: "age1".utf8) {
            let recipients = try AgeRecipient.list(in: contents.withUnsafeBytes { String(decoding: $0, as: UTF8.self) })
            return recipients.map { KeyMaterial(kind: .ageRecipient($0), path: path) }
        }
        return nil
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
            if let item = secret.items[KeyRing.ageIdentityItem] {  // as unseal --key reads it: exactly one
                let identities = try AgeIdentity.list(in: item)
                guard identities.count == 1 else {
                    throw CommandFailure("\(name): data.\(KeyRing.ageIdentityItem) holds \(identities.count) age identities; a key Secret holds exactly one")
                }
                keys.append(KeyMaterial(kind: .ageIdentity(identities[0]), path: name))
            }
        }
        guard !keys.isEmpty else { throw CommandFailure("\(path): its Secrets hold no tls.crt or tls.key, so it is not a key backup") }
        return keys
    }
}

/// The key files `cachet keys list` and `cachet keys inspect` read: at least one.
struct KeyFileArguments: ParsableArguments {
    @Argument(help: "Certificates, public or private keys, age identity or recipients files, key backups, or key directories.")
    var paths: [String]

    func validate() throws {
        guard !paths.isEmpty else { throw ValidationError("name at least one key file or key directory") }
    }

    /// Every key in every path, in order.
    func load() throws -> [KeyMaterial] {
        try paths.flatMap { path throws in try KeyMaterial.load(path) }
    }
}
