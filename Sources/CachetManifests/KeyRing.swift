import CachetCrypto

/// The private keys an unsealer may use. The newest key seals; every key opens.
///
/// Opening tries only keys whose modulus matches the value's length prefix, and tries hinted keys first (the
/// `cachet.dev/sealed-by` annotation, or the key that opened the previous item), so a ring of many rotated keys
/// costs about one RSA operation per value instead of one per key.
package struct KeyRing: Sendable {
    package let keys: [RSAPrivateKey]

    package init(keys: [RSAPrivateKey]) {
        self.keys = keys
    }

    package var isEmpty: Bool { keys.isEmpty }

    /// Opens a sealed value (base64) for `scope`; returns the plaintext and the id of the key that opened it.
    /// Throws ``CachetCryptoError`` `malformedValue` for structural damage, or the one `cannotOpen` error — also when
    /// `budget` runs out before a key fits.
    package func open(
        sealedValue: String, scope: SealingScope, preferring hints: [KeyID] = [], budget: OperationBudget? = nil
    ) throws -> (plaintext: SecureBytes, keyID: KeyID) {
        let envelope = try Base64.decode(sealedValue)
        let length = try EnvelopeV1.wrappedKeyLength(of: envelope)
        for key in candidates(modulusBytes: length, hints: hints) {
            guard budget?.take() ?? true else { break }
            do {
                return (try EnvelopeV1.open(envelope, with: key, scope: scope), key.keyID)
            } catch let error as CachetCryptoError where error.code == .cannotOpen {
                continue
            }
        }
        throw CachetCryptoError.cannotOpen
    }

    /// Keys of the right size, hinted ones first in hint order, then the rest in ring order.
    func candidates(modulusBytes: Int, hints: [KeyID]) -> [RSAPrivateKey] {
        let sized = keys.filter { $0.publicKey.modulusByteCount == modulusBytes }
        let hinted = hints.compactMap { hint in sized.first { $0.keyID == hint } }
        return hinted + sized.filter { key in !hinted.contains { $0.keyID == key.keyID } }
    }
}

extension KeyRing {
    /// Loads keys from what `--key` names: a PEM private key (PKCS#1 or PKCS#8), a key directory holding `tls.key`,
    /// or a Secret backup (`kubectl get secret -l sealedsecrets.bitnami.com/sealed-secrets-key -o yaml`: a List or
    /// several documents of `kubernetes.io/tls` Secrets, each with `data["tls.key"]`).
    ///
    /// Every file is refused if others can read it (it holds private keys). A path that yields no key is an error.
    package static func load(paths: [String]) throws -> KeyRing {
        var keys: [RSAPrivateKey] = []
        for path in paths {
            let file = SecretFiles.isDirectory(path) ? SecretFiles.join(path, "tls.key") : path
            try SecretFiles.refuseIfExposed(file)
            let contents = try SecretFiles.read(file)
            let found = try loadKeys(from: contents, file: file)
            guard !found.isEmpty else { throw FileError("\(file) holds no private key") }
            // The same key named twice (a directory and its backup) is kept once.
            keys += found.filter { key in !keys.contains { $0.keyID == key.keyID } }
        }
        return KeyRing(keys: keys)
    }

    private static func loadKeys(from contents: SecureBytes, file: String) throws -> [RSAPrivateKey] {
        switch PEMContent(pem: contents) {
        case .privateKey, .encryptedPrivateKey:
            do {
                return [try RSAPrivateKey(pem: contents)]
            } catch let error as CachetCryptoError {
                throw FileError("\(file): \(error.message)")
            }
        case .certificate, .publicKey:
            throw FileError("\(file) holds a public key or certificate; opening needs the private key (tls.key)")
        case .unrecognized:
            return try keysFromSecretBackup(contents, file: file)
        }
    }

    /// Private keys from `tls.key` of each Secret in a backup.
    private static func keysFromSecretBackup(_ contents: SecureBytes, file: String) throws -> [RSAPrivateKey] {
        do {
            let objects = try ManifestReader.objects(in: ManifestReader.documents(in: contents))
            var keys: [RSAPrivateKey] = []
            for object in objects {
                let secret = try SecretManifest(object)
                guard let pem = secret.items["tls.key"] else {
                    throw object.error("this Secret has no tls.key, so it is not a key backup", path: "data")
                }
                do {
                    keys.append(try RSAPrivateKey(pem: pem))
                } catch let error as CachetCryptoError {
                    throw object.error(error.message, path: "data.tls.key")
                }
            }
            return keys
        } catch let error as ManifestError {
            throw error.inFile(file)
        }
    }
}
