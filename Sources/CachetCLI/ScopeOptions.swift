import ArgumentParser
import CachetCrypto

extension SealingScope.Kind: ExpressibleByArgument {}

/// `--scope`, `-n/--namespace` and `--name` as plain values: what the commands use (``ScopeOptions`` declares the
/// flags; the kubeseal mode fills these from kubeseal's flags).
struct ScopeValues: Equatable {
    var scope: SealingScope.Kind?
    var namespace: String?
    var name: String?

    func validate() throws {
        do {
            if let namespace { try SealingScope.validateNamespace(namespace) }
            if let name { try SealingScope.validateName(name) }
        } catch let error as CachetCryptoError {
            throw ValidationError(error.message)
        }
    }

    /// The scope for a single raw value, where nothing but the flags can say it. (`cachet seal --raw` fills a missing
    /// namespace from the kubeconfig first, as kubeseal does, and says so; `cachet unseal --raw` needs it given.)
    var rawScope: SealingScope {
        get throws {
            switch scope ?? .strict {
            case .strict:
                guard let namespace, let name else {
                    throw ValidationError("--scope strict needs both -n/--namespace and --name")
                }
                return .strict(namespace: namespace, name: name)
            case .namespaceWide:
                guard let namespace else { throw ValidationError("--scope namespace-wide needs -n/--namespace") }
                return .namespaceWide(namespace: namespace)
            case .clusterWide:
                return .clusterWide
            }
        }
    }
}

/// `--scope`, `-n/--namespace` and `--name`, shared by the commands that seal or open.
struct ScopeOptions: ParsableArguments {
    @Option(help: ArgumentHelp(
        "Where values may be opened: strict (this namespace and name), namespace-wide, or cluster-wide.",
        discussion: "For manifests, the default is the Secret's own scope annotations, else strict."))
    var scope: SealingScope.Kind?

    @Option(name: [.customShort("n"), .customLong("namespace")],
            help: "The namespace (fills a missing metadata.namespace; a different one in the input is an error).")
    var namespace: String?

    @Option(help: "The name (overrides metadata.name, as kubeseal's --name does).")
    var name: String?

    var values: ScopeValues { ScopeValues(scope: scope, namespace: namespace, name: name) }

    func validate() throws {
        try values.validate()
    }
}
