import CachetCrypto
import CachetKubeSyntax

/// A `SealedSecret` (bitnami.com/v1alpha1), Bitnami's resource exactly.
package struct SealedSecretManifest: Sendable {
    package static let apiVersion = "bitnami.com/v1alpha1"
    package static let kind = "SealedSecret"

    /// `spec.template`: what the Secret will look like, apart from its data.
    package struct Template: Sendable {
        package var metadata: ObjectMeta
        package var type: String?
        package var immutable: Bool?
        /// Bitnami's Go-template `data` field; Cachet does not render it, so an object using it is refused on unseal.
        package var hasTemplateData = false

        package init(metadata: ObjectMeta, type: String? = nil, immutable: Bool? = nil) {
            self.metadata = metadata
            self.type = type
            self.immutable = immutable
        }
    }

    /// Top-level metadata: the scope annotations live here (and only here count).
    package var metadata: ObjectMeta
    /// Item name → sealed value (base64).
    package var encryptedData: [String: String]
    package var template: Template
    /// Bitnami's pre-v0.7 `spec.data` (a whole Secret sealed as one value); recognised only to be refused.
    package var hasLegacyData = false
    package let source: ManifestObject?

    package init(metadata: ObjectMeta, encryptedData: [String: String], template: Template) {
        self.metadata = metadata
        self.encryptedData = encryptedData
        self.template = template
        self.source = nil
    }

    /// The scope its values are sealed for, from the **top-level** annotations only (never the template's, which is
    /// what CVE-2026-22728 exploited): only the exact string `"true"` counts, and cluster-wide wins.
    package var scopeKind: SealingScope.Kind {
        Self.scopeKind(of: metadata.annotations)
    }

    static func scopeKind(of annotations: [String: String]) -> SealingScope.Kind {
        if annotations[Annotations.clusterWide] == "true" { return .clusterWide }
        if annotations[Annotations.namespaceWide] == "true" { return .namespaceWide }
        return .strict
    }

    /// The `cachet.dev/sealed-for` hint (`namespace/name`, or `namespace` for namespace-wide), split; the name is nil
    /// when the hint has none. A hint for messages and tools, never a security input.
    package var sealedForHint: (namespace: String, name: String?)? {
        guard let hint = metadata.annotations[Annotations.sealedFor] else { return nil }
        let parts = hint.split(separator: "/", maxSplits: 1).map(String.init)
        return (parts.first ?? "", parts.count > 1 ? parts[1] : nil)
    }

    /// The most key ids `cachet.dev/sealed-by` is read for: a v2 value has at most 256 recipients, and a v1 key
    /// comes on top. The annotation comes from whoever wrote the object, and every id is tried against every item,
    /// so an unbounded list would be work (and memory) a hostile object could demand.
    static let maximumSealedBy = 2 * 256

    /// The key ids of the `cachet.dev/sealed-by` annotation in order, each once, at most ``maximumSealedBy``;
    /// unknown or malformed entries are ignored.
    package var sealedBy: [KeyID] {
        var ids: [KeyID] = []
        var seen = Set<KeyID>()
        // maxSplits bounds the splitting itself; what is left over lands in one last entry, never a valid id.
        for entry in (metadata.annotations[Annotations.sealedBy] ?? "").split(separator: ",", maxSplits: 2 * Self.maximumSealedBy) {
            guard ids.count < Self.maximumSealedBy else { break }
            if let id = KeyID(String(entry.filter { $0 != " " })), seen.insert(id).inserted { ids.append(id) }
        }
        return ids
    }

    /// Reads a SealedSecret the Kubernetes API returned (already parsed: no second parse).
    package init(apiObject: ManifestValue) throws(ManifestError) {
        try self.init(ManifestObject(document: 1, itemIndex: nil, node: Node(apiObject)))
    }

    /// Reads a SealedSecret.
    package init(_ object: ManifestObject) throws(ManifestError) {
        let reader = FieldReader(object: object)
        _ = try reader.mapping(object.node, path: "")
        guard object.kind == Self.kind, object.apiVersion == Self.apiVersion else {
            let found = [object.apiVersion, object.kind].compactMap { $0 }.joined(separator: " ")
            throw object.error("expected a SealedSecret (\(Self.apiVersion)), found \(found.isEmpty ? "an object without kind" : found)")
        }
        var metadata = ObjectMeta()
        var encryptedData: [String: String] = [:]
        var template = Template(metadata: ObjectMeta())
        var hasLegacyData = false
        for entry in object.node.entries ?? [] {
            switch try reader.key(entry, path: entry.key) {
            case "metadata": metadata = try ObjectMeta(entry.value, reader: reader, path: "metadata")
            case "spec":
                for field in try reader.mapping(entry.value, path: "spec") {
                    let key = try reader.key(field, path: "spec")
                    let path = "spec." + key
                    switch key {
                    case "encryptedData":
                        if let scalar = field.value.scalar, YAMLScalarTypes.resolve(scalar) == .null { continue }
                        for item in try reader.mapping(field.value, path: path) {
                            let name = try reader.key(item, path: path)
                            // The item becomes a key of the Secret: refuse here what Kubernetes would refuse there, so
                            // unseal, render and the controller agree with seal.
                            guard KubeSyntax.isItemKey(name) else {
                                throw reader.error(SecretManifest.invalidItemNameMessage(name), at: item.keyNode, path: path)
                            }
                            encryptedData[name] = try reader.string(item.value, path: path + "." + name)
                        }
                    case "template": template = try Self.template(field.value, reader: reader, path: path)
                    case "data": hasLegacyData = true
                    default: throw reader.error("unknown field \"\(key)\" in a SealedSecret's spec", at: field.keyNode, path: path)
                    }
                }
            default: break  // apiVersion, kind, status, and anything the API server adds
            }
        }
        self.metadata = metadata
        self.encryptedData = encryptedData
        self.template = template
        self.hasLegacyData = hasLegacyData
        self.source = object
    }

    private static func template(_ node: Node, reader: FieldReader, path: String) throws(ManifestError) -> Template {
        var template = Template(metadata: ObjectMeta())
        for field in try reader.mapping(node, path: path) {
            let key = try reader.key(field, path: path)
            switch key {
            case "metadata": template.metadata = try ObjectMeta(field.value, reader: reader, path: path + ".metadata")
            case "type": template.type = try reader.string(field.value, path: path + ".type")
            case "immutable": template.immutable = try reader.bool(field.value, path: path + ".immutable")
            case "data":
                if let scalar = field.value.scalar, YAMLScalarTypes.resolve(scalar) == .null { continue }
                template.hasTemplateData = !(field.value.entries?.isEmpty ?? false)
            default: throw reader.error("unknown field \"\(key)\" in a SealedSecret's template", at: field.keyNode, path: path)
            }
        }
        return template
    }

    /// As kubeseal writes it: apiVersion, kind, metadata, spec, with every key sorted.
    package var manifestValue: ManifestValue {
        var templateEntries: [(String, ManifestValue)] = [("metadata", template.metadata.manifestValue)]
        if let type = template.type { templateEntries.append(("type", .string(type))) }
        if let immutable = template.immutable { templateEntries.append(("immutable", .bool(immutable))) }
        let spec: [(String, ManifestValue)] = [
            ("encryptedData", .stringMap(encryptedData)),
            ("template", .sortedObject(templateEntries)),
        ]
        return .object([
            ("apiVersion", .string(Self.apiVersion)),
            ("kind", .string(Self.kind)),
            ("metadata", metadata.manifestValue),
            ("spec", .object(spec)),
        ])
    }
}

extension SealedSecretManifest {
    /// The one SealedSecret in `bytes` (JSON or YAML), or nil: several documents (Bitnami's issue #114), another kind,
    /// or a malformed one. For bodies sent by anyone (the controller's `/v1/verify` and `/v1/rotate`): read with the
    /// default limits for untrusted input, and a fuzz target of its own.
    package static func single(in bytes: [UInt8]) -> SealedSecretManifest? {
        guard let documents = try? ManifestReader.documents(in: bytes),
              let objects = try? ManifestReader.objects(in: documents), objects.count == 1
        else { return nil }
        return try? SealedSecretManifest(objects[0])
    }
}
