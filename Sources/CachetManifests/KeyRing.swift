import CachetCrypto

/// The private keys an unsealer may use: RSA keys (v1 values) and age X25519 identities (v2 values). The newest key
/// seals; every key opens.
///
/// A value's bytes say which kind opens it (docs/wire-format.md §5.1). Opening tries hinted keys first (the
/// `cachet.dev/sealed-by` annotation, or the key that opened the previous item), and for v1 only keys whose modulus
/// matches the value's length prefix, so a ring of many rotated keys costs about one RSA operation per value instead
/// of one per key; for v2, each identity tries first the stanza it opened last, so a value costs about one X25519
/// operation.
package struct KeyRing: Sendable {
    package let keys: [RSAPrivateKey]
    package let ageIdentities: [AgeIdentity]

    package init(keys: [RSAPrivateKey], ageIdentities: [AgeIdentity] = []) {
        self.keys = keys
        self.ageIdentities = ageIdentities
    }

    package var isEmpty: Bool { keys.isEmpty && ageIdentities.isEmpty }

    /// How many keys of both kinds, for messages ("any of the 3 keys").
    package var count: Int { keys.count + ageIdentities.count }

    /// Where a key opened a value: its id and, for a v2 value, the stanza. Fed back as a hint for the next value.
    package struct Opening: Sendable, Equatable {
        package let keyID: KeyID
        package let stanza: Int?
    }

    /// Opens a sealed value (base64) as item `item` of an object in `scope`; returns the plaintext and where it
    /// opened. `hints` are key ids to try first, in order; `recent` says which stanza an identity opened last.
    /// Throws ``CachetCryptoError`` `malformedValue` for structural damage, or the one `cannotOpen` error — also when
    /// `budget` (one unit per RSA or X25519 operation) runs out first.
    package func open(
        sealedValue: String, scope: SealingScope, item: String, preferring hints: [KeyID] = [], recent: [Opening] = [],
        budget: OperationBudget? = nil
    ) throws -> (plaintext: SecureBytes, opening: Opening) {
        let envelope = try Base64.decode(sealedValue)
        // Any age version goes to the v2 opener, which names an unsupported one (a v1 prefix cannot read "ag").
        if envelope.starts(with: "age-encryption.org/".utf8) {
            return try openV2(envelope, scope: scope, item: item, hints: hints, recent: recent, budget: budget)
        }
        let length = try EnvelopeV1.wrappedKeyLength(of: envelope)
        for key in candidates(modulusBytes: length, hints: hints + recent.map(\.keyID)) {
            guard budget?.take() ?? true else { break }
            do {
                return (try EnvelopeV1.open(envelope, with: key, scope: scope), Opening(keyID: key.keyID, stanza: nil))
            } catch let error as CachetCryptoError where error.code == .cannotOpen {
                continue
            }
        }
        throw CachetCryptoError.cannotOpen
    }

    private func openV2(
        _ envelope: [UInt8], scope: SealingScope, item: String, hints: [KeyID], recent: [Opening], budget: OperationBudget?
    ) throws -> (plaintext: SecureBytes, opening: Opening) {
        let preferred = hints + recent.map(\.keyID)
        let hinted = preferred.compactMap { hint in ageIdentities.first { $0.keyID == hint } }
        let ordered = hinted.reduce(into: [AgeIdentity]()) { list, identity in
            if !list.contains(where: { $0 === identity }) { list.append(identity) }
        } + ageIdentities.filter { identity in !hinted.contains { $0 === identity } }
        let opened = try envelope.withUnsafeBytes { bytes in
            try EnvelopeV2.open(
                bytes, with: ordered, scope: scope, item: item,
                // The stanza this identity opened last; else its place among the sealed-by ids, which a v2 sealer
                // writes in stanza order. Only a hint: every stanza is still tried.
                preferredStanza: { identity in
                    recent.first { $0.keyID == identity.keyID }?.stanza ?? hints.firstIndex(of: identity.keyID)
                },
                allowOperation: { budget?.take() ?? true })
        }
        return (opened.plaintext, Opening(keyID: ordered[opened.identity].keyID, stanza: opened.stanza))
    }

    /// The most operations opening `sealedValue` may take with this ring, from public facts alone (how many keys it
    /// holds, and the value's own header): every RSA key for a v1 value, every identity on every X25519 stanza for a v2
    /// one. 0 for a value that does not decode (it fails before any operation). Lets a caller decide whether a value fits
    /// in what is left of a budget before trying it, so that the decision says nothing about how other values opened.
    package func worstCaseOperations(sealedValue: String) -> Int {
        guard let envelope = try? Base64.decode(sealedValue) else { return 0 }
        guard envelope.starts(with: "age-encryption.org/".utf8) else { return keys.count }
        let stanzas = (try? envelope.withUnsafeBytes { try AgeFile.parseHeader($0) })?.stanzas.count(where: { $0.type == "X25519" }) ?? 0
        return ageIdentities.count * stanzas
    }

    /// Keys of the right size, hinted ones first in hint order, then the rest in ring order.
    func candidates(modulusBytes: Int, hints: [KeyID]) -> [RSAPrivateKey] {
        let sized = keys.filter { $0.publicKey.modulusByteCount == modulusBytes }
        var hinted: [RSAPrivateKey] = []
        for hint in hints {
            if let key = sized.first(where: { $0.keyID == hint }), !hinted.contains(where: { $0.keyID == hint }) { hinted.append(key) }
        }
        return hinted + sized.filter { key in !hinted.contains { $0.keyID == key.keyID } }
    }
}

extension KeyRing {
    /// The age identity file's name in a key directory and the data item's name in a key Secret (so that a mounted
    /// key Secret is a key directory).
    package static let ageIdentityItem = "age-identity.txt"
    /// The matching recipients file beside it.
    package static let ageRecipientsItem = "age-recipients.txt"

    /// Loads keys from what `--key` names: a PEM private key (PKCS#1 or PKCS#8), an age identity file
    /// (`AGE-SECRET-KEY-1…` lines, as `age-keygen` writes), a key directory holding `tls.key` and/or
    /// `age-identity.txt`, or a Secret backup (`kubectl get secret -l sealedsecrets.bitnami.com/sealed-secrets-key
    /// -o yaml`: a List or several documents of `kubernetes.io/tls` Secrets, each with `data["tls.key"]` and perhaps
    /// `data["age-identity.txt"]`).
    ///
    /// Every file is refused if others can read it (it holds private keys). A path that yields no key is an error.
    package static func load(paths: [String]) throws -> KeyRing {
        var ring = KeyRing(keys: [], ageIdentities: [])
        for path in paths {
            var files = [path]
            let isKeyDirectory = SecretFiles.isDirectory(path)
            if isKeyDirectory {
                files = ["tls.key", ageIdentityItem].map { SecretFiles.join(path, $0) }.filter(SecretFiles.exists)
                guard !files.isEmpty else { throw FileError("\(path) holds neither tls.key nor \(ageIdentityItem)") }
            }
            for file in files {
                try SecretFiles.refuseIfExposed(file)
                let found = try loadKeys(from: try SecretFiles.read(file), file: file)
                guard !found.isEmpty else { throw FileError("\(file) holds no private key") }
                // A key directory is what a mounted key Secret looks like, and a key Secret's item holds one identity.
                if isKeyDirectory, found.ageIdentities.count > 1 {
                    throw FileError("\(file) holds \(found.ageIdentities.count) age identities; a key directory's holds exactly one (pass a file of several directly)")
                }
                ring = ring.adding(found)
            }
        }
        return ring
    }

    /// This ring plus `other`'s keys; a key already held (the same key named twice, a directory and its backup) is
    /// kept once.
    package func adding(_ other: KeyRing) -> KeyRing {
        var keys = self.keys
        keys += other.keys.filter { key in !keys.contains { $0.keyID == key.keyID } }
        var identities = ageIdentities
        identities += other.ageIdentities.filter { identity in !identities.contains { $0.keyID == identity.keyID } }
        return KeyRing(keys: keys, ageIdentities: identities)
    }

    private static func loadKeys(from contents: SecureBytes, file: String) throws -> KeyRing {
        switch PEMContent(pem: contents) {
        case .privateKey, .encryptedPrivateKey:
            do {
                return KeyRing(keys: [try RSAPrivateKey(pem: contents)])
            } catch let error as CachetCryptoError {
                throw FileError("\(file): \(error.message)")
            }
        case .certificate, .publicKey:
            throw FileError("\(file) holds a public key or certificate; opening needs the private key (tls.key)")
        case .unrecognized:
            switch firstLine(of: contents) {
            case let line where line.uppercased().hasPrefix("AGE-SECRET-KEY-"):  // a lower-case one gets AgeIdentity's message
                do {
                    return KeyRing(keys: [], ageIdentities: try AgeIdentity.list(in: contents))
                } catch let error as CachetCryptoError {
                    throw FileError("\(file): \(error.message)")
                }
            case let line where line.lowercased().hasPrefix("age1"):
                throw FileError("\(file) holds age recipients (public keys); opening needs the identity (\(ageIdentityItem))")
            default:
                return try keysFromSecretBackup(contents, file: file)
            }
        }
    }

    /// The first line that is not blank or a `#` comment, cut to 16 characters (enough to tell key kinds apart, too
    /// short to hold a key).
    private static func firstLine(of contents: SecureBytes) -> String {
        contents.withUnsafeBytes { bytes in
            for line in bytes.split(separator: UInt8(ascii: "\n")) {
                let trimmed = line.drop { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\r") }
                if trimmed.isEmpty || trimmed.first == UInt8(ascii: "#") { continue }
                return String(decoding: trimmed.prefix(16), as: UTF8.self)
            }
            return ""
        }
    }

    /// Private keys from `tls.key`, and identities from `age-identity.txt`, of each Secret in a backup.
    private static func keysFromSecretBackup(_ contents: SecureBytes, file: String) throws -> KeyRing {
        do {
            let objects = try ManifestReader.objects(in: ManifestReader.documents(in: contents))
            var ring = KeyRing(keys: [])
            for object in objects {
                let secret = try SecretManifest(object)
                guard let pem = secret.items["tls.key"] else {
                    throw object.error("this Secret has no tls.key, so it is not a key backup", path: "data")
                }
                do {
                    ring = ring.adding(KeyRing(keys: [try RSAPrivateKey(pem: pem)]))
                } catch let error as CachetCryptoError {
                    throw object.error(error.message, path: "data.tls.key")
                }
                if let identity = secret.items[ageIdentityItem] {
                    // Damage is named, as for tls.key: a recovery must not quietly run with fewer keys than it was given.
                    let identities: [AgeIdentity]
                    do {
                        identities = try AgeIdentity.list(in: identity)
                    } catch let error as CachetCryptoError {
                        throw object.error(error.message, path: "data.\(ageIdentityItem)")
                    }
                    guard identities.count == 1 else {
                        throw object.error("holds \(identities.count) age identities; a key Secret holds exactly one", path: "data.\(ageIdentityItem)")
                    }
                    ring = ring.adding(KeyRing(keys: [], ageIdentities: identities))
                }
            }
            return ring
        } catch let error as ManifestError {
            throw error.inFile(file)
        }
    }
}
