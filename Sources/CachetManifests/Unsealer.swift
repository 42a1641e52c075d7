import CachetCrypto

/// Turns SealedSecrets back into the Secrets the controller would write (recovery, and the render mode).
public struct Unsealer: Sendable {
    public let keyRing: KeyRing
    /// Fills a missing `metadata.namespace` (SealedSecrets kept without one, for kustomize to set); a different
    /// namespace in the object is an error.
    public var namespace: String?

    public init(keyRing: KeyRing, namespace: String? = nil) {
        self.keyRing = keyRing
        self.namespace = namespace
    }

    /// Opens every item; fails (naming each item that did not open, never a value) unless all open.
    public func unseal(_ sealed: SealedSecretManifest) throws -> SecretManifest {
        let object = sealed.source
        func error(_ message: String, path: String? = nil) -> ManifestError {
            object?.error(message, path: path) ?? ManifestError(message, path: path)
        }
        guard !sealed.hasLegacyData else {
            throw error("spec.data (the pre-v0.7 single-value format) is not supported; re-seal the Secret", path: "spec.data")
        }
        guard !sealed.template.hasTemplateData else {
            throw error("spec.template.data (Go templates) is not supported yet; the object was not unsealed",
                        path: "spec.template.data")
        }
        guard let name = sealed.metadata.name else { throw error("metadata.name is missing", path: "metadata") }
        if let given = namespace, let own = sealed.metadata.namespace, given != own {
            throw error("namespace mismatch: the SealedSecret says \"\(own)\" but -n says \"\(given)\"", path: "metadata.namespace")
        }
        let namespace = sealed.metadata.namespace ?? self.namespace
        let scope: SealingScope
        switch (sealed.scopeKind, namespace) {
        case (.strict, let namespace?): scope = .strict(namespace: namespace, name: name)
        case (.namespaceWide, let namespace?): scope = .namespaceWide(namespace: namespace)
        case (.clusterWide, _): scope = .clusterWide
        case (let kind, nil):
            throw error("the SealedSecret has no namespace and its \(kind.rawValue) scope needs one; pass -n", path: "metadata")
        }

        var items: [String: SecureBytes] = [:]
        var failed: [String] = []
        var malformed: [String] = []
        var hints = sealed.sealedBy
        for item in sealed.encryptedData.keys.sorted() {
            do {
                let (plaintext, keyID) = try keyRing.open(sealedValue: sealed.encryptedData[item]!, scope: scope, preferring: hints)
                items[item] = plaintext
                // Items of one object are almost always sealed by one key: try it first for the rest.
                if hints.first != keyID { hints.insert(keyID, at: 0) }
            } catch let failure as CachetCryptoError where failure.code == .malformedValue {
                malformed.append(item)
            } catch {
                failed.append(item)
            }
        }
        if !malformed.isEmpty {
            throw error("not a sealed value: " + malformed.joined(separator: ", "), path: "spec.encryptedData")
        }
        if !failed.isEmpty {
            let keys = keyRing.keys.count == 1 ? "the key" : "any of the \(keyRing.keys.count) keys"
            throw error("cannot decrypt \(failed.joined(separator: ", ")) with \(keys) for scope \(scope): "
                        + "wrong key, wrong scope, or the value was altered", path: "spec.encryptedData")
        }

        // Bitnami's mapping: the template's metadata, with name and namespace forced to the SealedSecret's.
        var metadata = sealed.template.metadata
        metadata.name = name
        metadata.namespace = namespace
        return SecretManifest(metadata: metadata, items: items, type: sealed.template.type, immutable: sealed.template.immutable)
    }
}
