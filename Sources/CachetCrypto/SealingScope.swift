internal import CachetKubeSyntax  // the name rules a scope must obey; not part of the crypto API

/// Where a sealed value may be opened. The scope becomes the RSA-OAEP label of a v1 value, so a value sealed for one
/// namespace and name does not open under another.
public enum SealingScope: Sendable, Hashable, CustomStringConvertible {
    /// Opens only in a SealedSecret with this namespace and name (Bitnami's default). Label `"<namespace>/<name>"`.
    case strict(namespace: String, name: String)
    /// Opens in any SealedSecret of this namespace. Label `"<namespace>"`.
    case namespaceWide(namespace: String)
    /// Opens anywhere in the cluster, under any name. Label empty.
    case clusterWide

    /// The scope's name as `--scope` and the documentation spell it.
    public enum Kind: String, Sendable, CaseIterable {
        /// ``SealingScope/strict(namespace:name:)``.
        case strict
        /// ``SealingScope/namespaceWide(namespace:)``.
        case namespaceWide = "namespace-wide"
        /// ``SealingScope/clusterWide``.
        case clusterWide = "cluster-wide"
    }

    /// Which of the three scopes this is, without its namespace and name.
    public var kind: Kind {
        switch self {
        case .strict: .strict
        case .namespaceWide: .namespaceWide
        case .clusterWide: .clusterWide
        }
    }

    /// The OAEP label (UTF-8), exactly Bitnami's: note the `/` between namespace and name.
    public var label: [UInt8] {
        switch self {
        case .strict(let namespace, let name): Array("\(namespace)/\(name)".utf8)
        case .namespaceWide(let namespace): Array(namespace.utf8)
        case .clusterWide: []
        }
    }

    /// `strict (team-a/app)`, `namespace-wide (team-a)` or `cluster-wide`, as messages name a scope.
    public var description: String {
        switch self {
        case .strict(let namespace, let name): "strict (\(namespace)/\(name))"
        case .namespaceWide(let namespace): "namespace-wide (\(namespace))"
        case .clusterWide: "cluster-wide"
        }
    }

    /// Checks that the namespace and name are valid Kubernetes names.
    ///
    /// This is what keeps the label unambiguous: a namespace is a DNS-1123 label and a name a DNS-1123 subdomain,
    /// neither can hold `/`, so `"a/b"` has exactly one (namespace, name) reading.
    public func validate() throws {
        switch self {
        case .strict(let namespace, let name):
            try Self.validateNamespace(namespace)
            try Self.validateName(name)
        case .namespaceWide(let namespace):
            try Self.validateNamespace(namespace)
        case .clusterWide:
            break
        }
    }

    /// Throws unless `namespace` is a valid Kubernetes namespace (a DNS-1123 label).
    public static func validateNamespace(_ namespace: String) throws {
        guard KubeSyntax.isDNSLabel(namespace) else {
            throw CachetCryptoError(
                .invalidScope,
                "namespace \(namespace.quotedForMessage()) is not a valid Kubernetes namespace (lowercase letters, digits and '-', at most 63)")
        }
    }

    /// Throws unless `name` is a valid Kubernetes object name (a DNS-1123 subdomain).
    public static func validateName(_ name: String) throws {
        guard KubeSyntax.isDNSSubdomain(name) else {
            throw CachetCryptoError(
                .invalidScope,
                "name \(name.quotedForMessage()) is not a valid Kubernetes object name (lowercase letters, digits, '-' and '.', at most 253)")
        }
    }
}
