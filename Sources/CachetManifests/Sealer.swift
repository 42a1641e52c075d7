import CachetCrypto

/// What values are sealed to: a certificate (format v1, one cluster key, Bitnami's) or age recipients (format v2,
/// any number of clusters and offline keys).
package enum SealingTarget: Sendable {
    case certificate(SealingKey)
    case recipients([AgeRecipient])

    /// The ids `cachet.dev/sealed-by` names: the key, or every recipient in stanza order (each once, as the stanzas).
    package var keyIDs: [KeyID] {
        switch self {
        case .certificate(let key): [key.keyID]
        case .recipients(let recipients): recipients.map(\.keyID).reduce(into: []) { ids, id in if !ids.contains(id) { ids.append(id) } }
        }
    }

    /// Seals one item's value for `scope`.
    package func sealedValue(_ value: SecureBytes, scope: SealingScope, item: String) throws -> String {
        switch self {
        case .certificate(let key): try EnvelopeV1.sealedValue(value, to: key.publicKey, scope: scope)
        case .recipients(let recipients): try EnvelopeV2.sealedValue(value, to: recipients, scope: scope, item: item)
        }
    }
}

/// Turns Secrets into SealedSecrets with Bitnami's mapping; needs only public keys.
package struct Sealer: Sendable {
    package var target: SealingTarget
    /// `--scope`: when nil, the Secret's own scope annotations decide (cluster-wide wins), else `defaultScope`, else
    /// strict.
    package var scope: SealingScope.Kind?
    /// A `.cachet.yaml` rule's scope: below the Secret's own annotations, above strict.
    package var defaultScope: SealingScope.Kind?
    /// `-n`: fills a missing namespace; a different namespace in the Secret is an error.
    package var namespace: String?
    /// Fills a missing namespace when `namespace` does not, for scopes that need one, and is reported as a warning
    /// (kubeseal's fallback to the kubeconfig context's namespace): the namespace and where it came from.
    package var defaultNamespace: (namespace: String, origin: String)?
    /// `--name`: overrides `metadata.name`, as kubeseal's does.
    package var name: String?
    /// Annotations starting with one of these are also copied to the SealedSecret's own metadata (for example
    /// `argocd.argoproj.io/` so that sync waves and hooks apply to the SealedSecret).
    package var keepAnnotationPrefixes: [String] = []
    /// Allow a Secret with no items (otherwise an error, as kubeseal).
    package var allowEmptyData = false
    /// `--kustomization`: the namespace and name the SealedSecret will have once a kustomization is built (an overlay's
    /// `namespace:`, `namePrefix:`, `nameSuffix:`). The values are bound to them, the template names them, and
    /// `cachet.dev/sealed-for` records them; the SealedSecret itself keeps the Secret's own name and namespace, as the
    /// file in the base says.
    package var builtAs: (namespace: String?, name: String)?

    package init(target: SealingTarget) {
        self.target = target
    }

    package init(sealingKey: SealingKey) {
        self.init(target: .certificate(sealingKey))
    }

    /// Metadata fields the API server sets. They describe one live object, so copying them into a template would at
    /// best be noise and at worst make the controller's Secret claim another object's identity.
    static let serverSetFields = [
        "uid", "resourceVersion", "generation", "creationTimestamp", "deletionTimestamp",
        "deletionGracePeriodSeconds", "selfLink", "managedFields", "ownerReferences",
    ]

    package struct Result: Sendable {
        package let sealedSecret: SealedSecretManifest
        /// One line per thing dropped or changed that the user should know about (never a value).
        package let warnings: [String]
    }

    package func seal(_ secret: SecretManifest) throws -> Result {
        let object = secret.source
        func error(_ message: String, path: String? = nil) -> ManifestError {
            object?.error(message, path: path) ?? ManifestError(message, path: path)
        }

        guard let name = self.name ?? secret.metadata.name else {
            throw error(secret.metadata.field("generateName") != nil
                ? "metadata.generateName is not supported: a SealedSecret needs a fixed name; set metadata.name"
                : "missing; set it or pass --name", path: "metadata.name")
        }
        if let given = namespace, let own = secret.metadata.namespace, given != own {
            throw error("namespace mismatch: the Secret says \"\(own)\" but -n says \"\(given)\"", path: "metadata.namespace")
        }
        let annotated = secret.metadata.annotations[Annotations.clusterWide] == "true" || secret.metadata.annotations[Annotations.namespaceWide] == "true"
        let kind = scope ?? (annotated ? SealedSecretManifest.scopeKind(of: secret.metadata.annotations) : defaultScope ?? .strict)
        var warnings: [String] = []
        var namespace = secret.metadata.namespace ?? self.namespace
        if namespace == nil, kind != .clusterWide, let fallback = defaultNamespace {
            namespace = fallback.namespace
            warnings.append("no namespace in the input: sealed for namespace \"\(fallback.namespace)\" (\(fallback.origin)); pass -n to choose")
        }
        let boundNamespace = builtAs.map { $0.namespace ?? namespace } ?? namespace, boundName = builtAs?.name ?? name
        let sealingScope: SealingScope
        switch (kind, boundNamespace) {
        case (.strict, let namespace?): sealingScope = .strict(namespace: namespace, name: boundName)
        case (.namespaceWide, let namespace?): sealingScope = .namespaceWide(namespace: namespace)
        case (.clusterWide, _): sealingScope = .clusterWide
        case (_, nil):
            throw error("the Secret has no namespace and \(kind.rawValue) scope needs one; set metadata.namespace or pass -n",
                        path: "metadata")
        }
        do {
            try sealingScope.validate()
        } catch let failure as CachetCryptoError {
            throw error(failure.message, path: "metadata")
        }
        guard !secret.items.isEmpty || allowEmptyData else {
            throw error("the Secret has no data or stringData; pass --allow-empty-data to seal it anyway")
        }

        var template = secret.metadata
        template.name = boundName
        template.namespace = boundNamespace
        let dropped = Self.serverSetFields.filter { field in
            guard let value = template.field(field) else { return false }
            template.removeField(field)
            return value != .null
        }
        if !dropped.isEmpty {
            warnings.append("dropped " + dropped.map { "metadata." + $0 }.joined(separator: ", ") + ": set by the API server")
        }
        for annotation in Annotations.lastAppliedConfigurations where template.annotations.removeValue(forKey: annotation) != nil {
            warnings.append("dropped annotation \(annotation): it holds the whole Secret in plaintext")
        }
        // The template states the scope too, as kubeseal's does; the controller reads only the top-level one.
        template.annotations[Annotations.namespaceWide] = nil
        template.annotations[Annotations.clusterWide] = nil
        template.annotations[Annotations.sealedBy] = nil
        template.annotations[Annotations.sealedFor] = nil
        let scopeAnnotation = Self.scopeAnnotation(kind)
        if let scopeAnnotation { template.annotations[scopeAnnotation] = "true" }

        var metadata = ObjectMeta(name: name, namespace: namespace)
        if let scopeAnnotation { metadata.annotations[scopeAnnotation] = "true" }
        metadata.annotations[Annotations.sealedBy] = target.keyIDs.map(\.hex).joined(separator: ",")
        if builtAs != nil, kind != .clusterWide, boundNamespace != namespace || (kind == .strict && boundName != name) {
            metadata.annotations[Annotations.sealedFor] = kind == .strict ? "\(boundNamespace ?? "")/\(boundName)" : boundNamespace
        }
        for (key, value) in template.annotations where keepAnnotationPrefixes.contains(where: { key.hasPrefix($0) }) {
            metadata.annotations[key] = value
        }

        var encryptedData: [String: String] = [:]
        for (item, value) in secret.items {
            do {
                encryptedData[item] = try target.sealedValue(value, scope: sealingScope, item: item)
            } catch let failure as CachetCryptoError {
                throw error(failure.message, path: "data." + item)
            }
        }
        let sealed = SealedSecretManifest(
            metadata: metadata, encryptedData: encryptedData,
            template: .init(metadata: template, type: secret.type, immutable: secret.immutable))
        return Result(sealedSecret: sealed, warnings: warnings)
    }

    static func scopeAnnotation(_ kind: SealingScope.Kind) -> String? {
        switch kind {
        case .strict: nil
        case .namespaceWide: Annotations.namespaceWide
        case .clusterWide: Annotations.clusterWide
        }
    }
}

extension Sealer {
    /// Re-encrypts every item of `sealed` (opened by `unsealer`) to this sealer's key: what the controller's
    /// `/v1/rotate` does after a key renewal.
    ///
    /// v2 values are verified (they must open) but kept byte for byte: they may be sealed to recipients this
    /// controller does not know (other clusters, an offline key), and re-sealing to its own key alone would silently
    /// drop them. Their recipients stay named in `cachet.dev/sealed-by`, first (docs/controller.md, `/v1/rotate`).
    ///
    /// The scope is the one the values were sealed for, read from the **top-level** annotations only: taking it from
    /// the template (which anyone can edit) would let a strict value be widened to cluster-wide and then be moved
    /// (CVE-2026-22728). The top-level metadata is kept, minus what the API server sets; the template is the opened
    /// Secret's, with its scope annotations restated.
    package func reencrypt(_ sealed: SealedSecretManifest, using unsealer: Unsealer) throws -> SealedSecretManifest {
        let secret = try unsealer.unseal(sealed)
        var sealer = self
        sealer.scope = sealed.scopeKind
        sealer.name = nil
        sealer.namespace = nil
        sealer.allowEmptyData = true
        let resealed = try sealer.seal(secret).sealedSecret
        var encryptedData = resealed.encryptedData
        let keptV2 = sealed.encryptedData.filter { SealedValue.isV2($0.value) }
        for (item, value) in keptV2 { encryptedData[item] = value }
        var metadata = sealed.metadata
        for field in Self.serverSetFields { metadata.removeField(field) }
        // sealed-by: the kept v2 values' recipients first, in stanza order (openers use an id's place as a stanza hint),
        // minus ids of RSA keys this controller holds (its v1 values are all re-sealed now); then the new key, if any
        // v1 value is left to name it.
        let newIDs = target.keyIDs
        let rsaIDs = Set(unsealer.keyRing.keys.map(\.keyID))
        let recipientIDs = keptV2.isEmpty ? [] : sealed.sealedBy.filter { !rsaIDs.contains($0) && !newIDs.contains($0) }
        let ids = recipientIDs + (encryptedData.count > keptV2.count ? newIDs : [])
        if !ids.isEmpty { metadata.annotations[Annotations.sealedBy] = ids.map(\.hex).joined(separator: ",") }
        return SealedSecretManifest(metadata: metadata, encryptedData: encryptedData, template: resealed.template)
    }
}

/// Facts about a sealed value's text that need no key.
package enum SealedValue {
    /// Whether the base64 text is a v2 (age) value; false for v1 and for text that is not base64 at all. Only the
    /// first 32 characters are decoded: the format is told by its first bytes (docs/wire-format.md §5.1).
    package static func isV2(_ text: String) -> Bool {
        let head = text.utf8.filter { $0 != UInt8(ascii: "\r") && $0 != UInt8(ascii: "\n") }.prefix(32)
        return (try? Base64.decode(utf8: Array(head))).map { EnvelopeV2.isV2($0) } ?? false
    }
}
