/// A Kubernetes object's `metadata`: name, namespace, labels and annotations typed, everything else kept as is.
package struct ObjectMeta: Sendable {
    package var name: String?
    package var namespace: String?
    package var labels: [String: String] = [:]
    package var annotations: [String: String] = [:]
    /// Every other field (finalizers, generateName, uid, …), in input order.
    package var otherFields: [(String, ManifestValue)] = []

    package init(name: String? = nil, namespace: String? = nil) {
        self.name = name
        self.namespace = namespace
    }

    init(_ node: Node, reader: FieldReader, path: String) throws(ManifestError) {
        for entry in try reader.mapping(node, path: path) {
            let key = try reader.key(entry, path: path)
            let fieldPath = path + "." + key
            switch key {
            case "name": name = try reader.string(entry.value, path: fieldPath)
            case "namespace": namespace = try reader.string(entry.value, path: fieldPath)
            case "labels": labels = try Self.optionalMap(entry.value, reader: reader, path: fieldPath)
            case "annotations": annotations = try Self.optionalMap(entry.value, reader: reader, path: fieldPath)
            default: otherFields.append((key, try reader.value(entry.value, path: fieldPath)))
            }
        }
    }

    /// `labels:` with nothing after it is null, which Kubernetes reads as empty.
    private static func optionalMap(_ node: Node, reader: FieldReader, path: String) throws(ManifestError) -> [String: String] {
        if let scalar = node.scalar, YAMLScalarTypes.resolve(scalar) == .null { return [:] }
        return try reader.stringMap(node, path: path)
    }

    /// The value of a field other than name, namespace, labels and annotations.
    package func field(_ key: String) -> ManifestValue? {
        otherFields.last { $0.0 == key }?.1
    }

    package mutating func removeField(_ key: String) {
        otherFields.removeAll { $0.0 == key }
    }

    /// As written out: sorted keys, empty labels and annotations left out.
    package var manifestValue: ManifestValue {
        var entries = otherFields
        if let name { entries.append(("name", .string(name))) }
        if let namespace { entries.append(("namespace", .string(namespace))) }
        if !labels.isEmpty { entries.append(("labels", .stringMap(labels))) }
        if !annotations.isEmpty { entries.append(("annotations", .stringMap(annotations))) }
        return .sortedObject(entries)
    }
}

/// The annotation names Bitnami's format gives meaning to, and Cachet's own.
package enum Annotations {
    package static let namespaceWide = "sealedsecrets.bitnami.com/namespace-wide"
    package static let clusterWide = "sealedsecrets.bitnami.com/cluster-wide"
    package static let managed = "sealedsecrets.bitnami.com/managed"
    package static let patch = "sealedsecrets.bitnami.com/patch"
    package static let skipSetOwnerReferences = "sealedsecrets.bitnami.com/skip-set-owner-references"
    /// Which keys sealed the object, comma-separated key ids (docs/wire-format.md §3): a hint for the opener, never
    /// trusted.
    package static let sealedBy = "cachet.dev/sealed-by"
    /// Where the values were sealed for, when that is not the SealedSecret's own place (`cachet seal
    /// --kustomization`: the namespace/name an overlay gives it): `namespace/name`, or `namespace` for namespace-wide.
    /// A hint for messages and `cachet check`, never a security input: the scope is in the values.
    package static let sealedFor = "cachet.dev/sealed-for"

    /// kubectl apply and kubecfg store the whole object here, so on a Secret it holds the plaintext.
    package static let lastAppliedConfigurations = [
        "kubectl.kubernetes.io/last-applied-configuration", "kubecfg.ksonnet.io/last-applied-configuration",
    ]
}
